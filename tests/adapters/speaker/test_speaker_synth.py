"""espeak-ng synthesis gives valid Mandarin WAV clips, cached by text; the standard warnings cover every violation."""

from __future__ import annotations

import wave
from io import BytesIO
from pathlib import Path

import pytest

from actors.station_config import VIOLATIONS
from adapters.speaker.synth import ClipCache, standard_warnings, synthesise, wav_seconds


@pytest.mark.asyncio
async def test_synthesis_gives_a_valid_wav_with_audio() -> None:
    data = await synthesise("前方劝导站提示：您已超速，请减速慢行。")
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert int.from_bytes(data[4:8], "little") == len(data) - 8  # sizes fixed up, not espeak's pipe placeholders
    with wave.open(BytesIO(data)) as w:
        assert w.getnchannels() == 1 and w.getframerate() > 8000
        samples = w.readframes(w.getnframes())
    assert 1.0 < wav_seconds(data) < 20.0
    assert any(samples[i] for i in range(0, len(samples), 97))  # not silence


@pytest.mark.asyncio
async def test_text_that_looks_like_options_is_spoken_not_obeyed() -> None:
    data = await synthesise("--help -w /tmp/x.wav")
    assert wav_seconds(data) > 0.3 and not Path("/tmp/x.wav").exists()


@pytest.mark.asyncio
async def test_clips_are_cached_by_text(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path / "clips")
    first = await cache.clip("请减速慢行")
    path = cache.path("请减速慢行")
    stamp = path.stat().st_mtime_ns
    again = await cache.clip("请减速慢行")
    assert again == first and path.stat().st_mtime_ns == stamp
    other = await cache.clip("请靠右行驶")
    assert other != first and len(list((tmp_path / "clips").glob("*.wav"))) == 2


def test_wav_seconds_refuses_what_is_not_a_wav() -> None:
    with pytest.raises(ValueError, match="RIFF"):
        wav_seconds(b"ID3\x03 an mp3 perhaps")


def test_standard_warnings_cover_every_station_violation() -> None:
    texts = standard_warnings()
    assert set(VIOLATIONS) <= set(texts)
    assert all("劝导站" in texts[v] and len(texts[v]) <= 200 for v in VIOLATIONS)
