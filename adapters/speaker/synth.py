"""Mandarin speech synthesis with espeak-ng, cached as WAV clips by text, plus the standard warning texts."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import wave
from functools import cache
from pathlib import Path

import yaml

STANDARD_FILE = Path(__file__).resolve().parent / "standard.yaml"


class SynthesisError(RuntimeError):
    """espeak-ng failed, timed out or produced no audio."""


@cache
def standard_warnings(path: Path = STANDARD_FILE) -> dict[str, str]:
    """The standard station warnings (violation type -> text), synthesised once at service start."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{path}: expected a mapping of warning name -> text")
    return {k: v.strip() for k, v in data.items()}


def wav_seconds(data: bytes) -> float:
    """Duration of a WAV clip in seconds; ValueError when the bytes are not a readable RIFF/WAVE file."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    try:
        with wave.open(io.BytesIO(data)) as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"unreadable WAV: {exc}") from exc


async def synthesise(text: str, voice: str = "cmn", words_per_min: int = 150, timeout_s: float = 20.0) -> bytes:
    """WAV bytes of `text` spoken by espeak-ng (no shell; the text goes in on stdin, never as an argument)."""
    proc = await asyncio.create_subprocess_exec(
        "espeak-ng", "-v", voice, "-s", str(words_per_min), "--stdout", "--stdin",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(text.encode("utf-8")), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise SynthesisError(f"espeak-ng took longer than {timeout_s:g} s") from None
    if proc.returncode != 0:
        raise SynthesisError(f"espeak-ng exited {proc.returncode}: {err.decode(errors='replace')[:200]}")
    data = _fix_sizes(out)
    try:
        seconds = wav_seconds(data)
    except ValueError as exc:
        raise SynthesisError(f"espeak-ng gave no usable audio: {exc}") from exc
    if seconds <= 0:
        raise SynthesisError("espeak-ng gave an empty clip")
    return data


def _fix_sizes(data: bytes) -> bytes:
    """espeak-ng writing to a pipe cannot seek back, so its RIFF and data sizes are placeholders; set them."""
    if len(data) < 44 or data[36:40] != b"data":
        return data
    riff = (len(data) - 8).to_bytes(4, "little")
    size = (len(data) - 44).to_bytes(4, "little")
    return data[:4] + riff + data[8:40] + size + data[44:]


class ClipCache:
    """Synthesised clips on disk under <var_dir>/speaker/clips/, named by a hash of voice and text."""

    def __init__(self, directory: Path, voice: str = "cmn", words_per_min: int = 150, timeout_s: float = 20.0) -> None:
        self.directory = directory
        self.voice, self.words_per_min, self.timeout_s = voice, words_per_min, timeout_s
        directory.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, asyncio.Lock] = {}

    def path(self, text: str) -> Path:
        """Where the clip of this text lives (whether or not it exists yet)."""
        digest = hashlib.sha256(f"{self.voice}|{self.words_per_min}|{text}".encode()).hexdigest()[:32]
        return self.directory / f"{digest}.wav"

    async def clip(self, text: str) -> bytes:
        """The clip of `text`: from disk when cached, else synthesised once (concurrent asks share one run)."""
        path = self.path(text)
        lock = self._locks.setdefault(path.name, asyncio.Lock())
        async with lock:
            if path.exists():
                return await asyncio.to_thread(path.read_bytes)
            data = await synthesise(text, self.voice, self.words_per_min, self.timeout_s)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            await asyncio.to_thread(tmp.write_bytes, data)
            tmp.replace(path)  # atomic: a reader never sees half a clip
        self._locks.pop(path.name, None)
        return data

    async def prepare(self, texts: list[str]) -> int:
        """Synthesise any of these texts not cached yet; returns how many clips exist for them."""
        for text in texts:
            await self.clip(text)
        return sum(1 for t in texts if self.path(t).exists())
