"""Frame sources: MJPEG over HTTP, RTSP or a video file through PyAV, read in a thread that keeps the latest frame."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np

from core.events import now_ms

log = logging.getLogger(__name__)


def redact(source: str) -> str:
    """A source fit for logs: credentials in a URL (rtsp://user:pass@host) are hidden."""
    return re.sub(r"(?<=://)[^/@\s]+@", "***@", source)


def source_kind(source: str) -> str:
    """'mjpeg' for http(s) URLs, 'rtsp' for rtsp(s) URLs, else 'file'."""
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    return {"http": "mjpeg", "https": "mjpeg", "rtsp": "rtsp", "rtsps": "rtsp"}.get(scheme, "file")


class FrameSource:
    """One camera's pictures: a daemon thread decodes the source and keeps only the newest frame and its capture time.

    It never raises to its user: a corrupt frame is skipped and counted, a dropped or unreachable stream is retried
    with exponential backoff, and `latest()` simply stops getting newer (the camera actor then reports it offline).
    File sources play at their own frame rate in real time, from the start again at the end when `loop` is set.
    """

    def __init__(
        self,
        device_id: str,
        source: str,
        fps: float = 1.0,
        loop: bool = False,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.device_id, self.source, self.fps, self.loop = device_id, source, fps, loop
        self.kind = source_kind(source)
        self.timeouts = (open_timeout_s, read_timeout_s)
        self.backoff = backoff_s
        self.clock = clock
        self._latest: tuple[np.ndarray, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_capture = 0
        self._kept_at = 0.0  # monotonic time the newest frame was kept
        self.counts = {"frames": 0, "skipped": 0, "corrupt": 0, "connects": 0, "drops": 0}
        self.connected = False
        self.ended = False  # a file without `loop` played to its end
        self.last_error: str | None = None

    # --- the user's side ------------------------------------------------------------------

    def start(self) -> FrameSource:
        """Start the reader thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"frames-{self.device_id}", daemon=True)
            self._thread.start()
        return self

    def latest(self) -> tuple[np.ndarray, int] | None:
        """The newest decoded RGB frame and its capture time (ms), None before the first one."""
        return self._latest

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and wait for it (at most one read timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def stats(self) -> dict[str, Any]:
        """Counters, connection state and the newest frame's age."""
        latest = self._latest
        age = (self.clock() - latest[1]) / 1000 if latest else None
        return {**self.counts, "connected": self.connected, "ended": self.ended, "frame_age_s": age,
                "error": self.last_error}  # fmt: skip

    # --- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._play()
                if self._stop.is_set():
                    return
                if self.kind == "file" and not self.loop:
                    self.ended = True
                    log.info("camera %s: video file ended (%s)", self.device_id, redact(self.source))
                    return
                if self.kind == "file":
                    delay = self.backoff[0]
                    continue  # loop: start again at once
                raise ConnectionError("stream ended")
            except Exception as exc:
                self.counts["drops"] += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                if time.monotonic() - started > 10 * self.backoff[0]:
                    delay = self.backoff[0]  # it had been working: retry soon
                log.warning(
                    "camera %s: video source unavailable (%s): %s; reconnecting in %.1f s",
                    self.device_id, redact(self.source), self.last_error, delay,
                )  # fmt: skip
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, self.backoff[1])
            finally:
                self.connected = False

    def _open(self) -> Any:
        if self.kind == "mjpeg":
            return av.open(self.source, format="mpjpeg", timeout=self.timeouts)
        if self.kind == "rtsp":
            options = {"rtsp_transport": "tcp"}
            return av.open(self.source, options=options, timeout=self.timeouts)
        path = self.source.split("://", 1)[1] if self.source.lower().startswith("file://") else self.source
        return av.open(path, timeout=self.timeouts)

    def _play(self) -> None:
        """Decode until the stream ends or stop; packets the sampling rate will never see are not decoded."""
        with self._open() as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            self.connected = True
            self.counts["connects"] += 1
            intra_only = stream.codec_context.name in ("mjpeg", "jpegls", "png")
            keep_every = 1 / (3 * self.fps)  # seconds: the host samples at fps; three chances per sample
            wall0: float | None = None
            t0 = 0.0
            kept = self.counts["frames"]
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return
                due = (time.monotonic() - self._kept_at) >= keep_every if self._latest else True
                if intra_only and not due and self.kind != "file" and packet.size:  # size 0: the final flush
                    self.counts["skipped"] += 1
                    continue
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    self._corrupt(exc)
                    continue
                for frame in frames:
                    if self.kind == "file" and frame.time is not None:  # play in real time
                        if wall0 is None:
                            wall0, t0 = time.monotonic(), frame.time
                        if self._stop.wait(max(0.0, wall0 + (frame.time - t0) - time.monotonic())):
                            return
                    if (time.monotonic() - self._kept_at) >= keep_every or self._latest is None:
                        self._keep(frame)
            if self.counts["frames"] == kept:
                raise ValueError("the source ended without a single usable frame")

    def _keep(self, frame: Any) -> None:
        try:
            rgb = frame.to_ndarray(format="rgb24")
        except (av.error.FFmpegError, ValueError) as exc:
            self._corrupt(exc)
            return
        capture = max(self.clock(), self._last_capture + 1)  # strictly increasing: it becomes the message seq
        self._last_capture = capture
        self._kept_at = time.monotonic()
        self._latest = (rgb, capture)
        self.counts["frames"] += 1

    def _corrupt(self, exc: Exception) -> None:
        self.counts["corrupt"] += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if self.counts["corrupt"] in (1, 10, 100) or self.counts["corrupt"] % 1000 == 0:
            log.warning("camera %s: corrupt video frame #%d skipped: %s", self.device_id, self.counts["corrupt"], exc)
