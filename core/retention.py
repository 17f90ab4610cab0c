"""File retention: files older than their retention period are deleted by the process that writes them."""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)
DAY_S = 86_400


def sweep_files(directory: Path, days: float, pattern: str = "*", now: float | None = None) -> int:
    """Delete files under `directory` (recursively) matching `pattern` last modified over `days` ago; the count."""
    if not directory.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - days * DAY_S
    gone = 0
    for path in directory.rglob(pattern):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                gone += 1
        except FileNotFoundError:  # removed meanwhile
            continue
    if gone:
        log.info("retention: deleted %d files older than %g days under %s", gone, days, directory)
    return gone
