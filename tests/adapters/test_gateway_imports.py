"""The ingest process loads the device reading model from core only: building and starting the gateway (and the
watch server beside it) in a fresh interpreter pulls in no UI, model-serving or vision library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from actors.kinds import device_kinds

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("panel", "bokeh", "ray.serve", "cv2", "supervision")
START = """
import asyncio, sys
from aiohttp import web
from adapters import bus
from adapters.ingest.gateway import Gateway
from adapters.ingest.watch_server import WatchServer
from core.settings import Settings

async def main(url):
    settings = Settings()
    gateway = Gateway(bus.connect(url), settings)
    runner = web.AppRunner(gateway.app, access_log=None)
    await runner.setup()  # runs the gateway's startup: registry and last timestamps from Redis
    WatchServer(settings.watch, gateway.gate, gateway.publisher.publish)
    await runner.cleanup()
    await gateway.redis.aclose()
    print(sorted(gateway.codecs))
    print(" ".join(m for m in {heavy!r} if m in sys.modules))

asyncio.run(main(sys.argv[1]))
"""


def test_the_gateway_process_loads_no_ui_serve_or_vision_module(redis_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", START.format(heavy=HEAVY), redis_url],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    kinds, loaded = done.stdout.splitlines()[-2:]
    assert kinds == str(sorted(device_kinds()))  # every device kind still has its decoder
    assert loaded == ""
