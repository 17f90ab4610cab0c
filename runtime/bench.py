"""Benchmarks: `python -m runtime.bench pipeline|alarm|detector|video|ops|ledgers --json` (see README,
docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import psutil
import ray
import redis.asyncio as aioredis

from adapters.redis_server import free_port
from adapters.telemetry import table_of
from core.settings import Settings
from runtime.platform import Platform
from sim.bench import add_ledgers_parser, run_ledgers
from sim.fleet import build_fleet, provision
from sim.load import LoadConfig, LoadResult

KINDS = ("wristband", "beehive")


def _stored(platform: Platform) -> dict[str, int]:
    parts = " UNION ALL ".join(
        f"SELECT count() AS n, uniqExact(device_id, seq) AS u FROM zq.{table_of(k)}" for k in KINDS
    )
    row = platform.query(f"SELECT sum(n) AS n, sum(u) AS u FROM ({parts})")[0]
    return {"rows": int(row["n"]), "unique": int(row["u"])}


def _latency(platform: Platform, log: list[tuple[str, int, int, int]]) -> tuple[float, float]:
    """p50/p99 ms from each upload's send time to its rows' insert time, joined in ClickHouse."""
    ray.get(platform.store.execute.remote("CREATE DATABASE IF NOT EXISTS bench"))
    ray.get(platform.store.execute.remote(
        "CREATE OR REPLACE TABLE bench.sends (device_id String, first UInt64, n UInt32, sent Int64) ENGINE = Memory"
    ))  # fmt: skip
    for i in range(0, len(log), 20_000):
        values = ",".join(f"('{d}',{f},{n},{ms})" for d, f, n, ms in log[i : i + 20_000])
        ray.get(platform.store.execute.remote(f"INSERT INTO bench.sends VALUES {values}"))
    stored = " UNION ALL ".join(f"SELECT device_id, seq, stored FROM zq.{table_of(k)}" for k in KINDS)
    row = platform.query(
        "SELECT quantiles(0.5, 0.99)(toUnixTimestamp64Milli(t.stored) - s.sent) AS q FROM "
        "(SELECT device_id, arrayJoin(range(first, first + n)) AS seq, sent FROM bench.sends) AS s "
        f"INNER JOIN ({stored}) AS t USING (device_id, seq)"
    )[0]
    return float(row["q"][0]), float(row["q"][1])


class _RssSampler(threading.Thread):
    """Largest platform RSS seen while the load runs (the simulator's processes excluded)."""

    def __init__(self, platform: Platform, exclude: int) -> None:
        super().__init__(daemon=True)
        self.platform, self.exclude, self.peak, self.done = platform, exclude, 0.0, False

    def run(self) -> None:
        while not self.done:
            sim = {self.exclude}
            with contextlib.suppress(psutil.NoSuchProcess):
                sim |= {p.pid for p in psutil.Process(self.exclude).children(recursive=True)}
            total = 0
            for pid in set(self.platform.pids()) - sim:
                try:
                    total += psutil.Process(pid).memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            self.peak = max(self.peak, total / 2**20)
            time.sleep(1.0)


def pipeline(seconds: float, wristbands: int, hives: int, rate: float, watch_share: float) -> dict[str, Any]:
    """Run the whole path under load and measure it."""
    var = Path(tempfile.mkdtemp(prefix="zq-bench-"))
    ingest_port, watch_port = free_port(), free_port()
    settings = Settings(var_dir=var, ingest={"port": ingest_port}, watch={"port": watch_port}, serve={"enabled": False})  # type: ignore[arg-type]  # the telemetry path only: no video models
    platform = Platform(settings).start()
    try:
        cfg = LoadConfig(
            ingest_url=f"http://127.0.0.1:{ingest_port}", watch_port=watch_port, wristbands=wristbands, hives=hives,
            rate=rate, seconds=seconds, watch_share=watch_share,
            master_key=settings.device_master_key.get_secret_value(),
        )  # fmt: skip

        async def _provision() -> None:
            redis = aioredis.Redis.from_url(platform.redis_url)
            await provision(redis, build_fleet(wristbands, hives, watch_share, cfg.seed))
            await redis.aclose()

        asyncio.run(_provision())
        ray.get(platform.ingest.refresh_registry.remote())
        out = var / "load.msgpack"
        cmd = [sys.executable, "-m", "sim.load", "--config", msgspec.json.encode(cfg).decode(), "--out", str(out)]
        started = time.monotonic()
        sim = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        sampler = _RssSampler(platform, sim.pid)
        sampler.start()
        sim.wait()
        elapsed = time.monotonic() - started
        result = msgspec.msgpack.decode(out.read_bytes(), type=LoadResult)
        stored = _stored(platform)
        deadline, last, last_change = time.monotonic() + 60, -1, time.monotonic()
        while stored["unique"] < result.sent and time.monotonic() < deadline:
            if stored["unique"] != last:
                last, last_change = stored["unique"], time.monotonic()
            elif time.monotonic() - last_change > 15:
                break
            time.sleep(0.5)
            stored = _stored(platform)
        sampler.done = True
        p50, p99 = _latency(platform, result.log)
        return {
            "devices": wristbands + hives,
            "sent": result.sent,
            "stored": stored["unique"],
            "lost": result.sent - stored["unique"],
            "duplicates": stored["rows"] - stored["unique"],
            "msgs_per_s": round(stored["unique"] / seconds, 1),
            "p50_ms": round(p50, 1),
            "p99_ms": round(p99, 1),
            "rss_mb": round(sampler.peak, 1),
            "seconds": round(elapsed, 1),
            "refused": result.refused,
            "errors": result.errors,
        }
    finally:
        platform.stop()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m runtime.bench", description="Platform benchmarks.")
    sub = parser.add_subparsers(dest="bench", required=True)
    p = sub.add_parser("pipeline", help="devices -> ingest -> streams -> hosts -> ClickHouse")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--wristbands", type=int, default=5000)
    p.add_argument("--hives", type=int, default=500)
    p.add_argument("--rate", type=float, default=12_000, help="offered messages per second over the fleet")
    p.add_argument("--watch-share", type=float, default=0.1, help="share of wristbands on the watch TCP protocol")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    a = sub.add_parser("alarm", help="SOS/fall from the device to the duty officer's phone under background load")
    a.add_argument("--seconds", type=float, default=60)
    a.add_argument("--background-rate", type=float, default=5000, help="background telemetry, messages per second")
    a.add_argument("--events", type=int, default=120, help="alarms, each from a different elder")
    a.add_argument("--wristbands", type=int, default=5000)
    a.add_argument("--hives", type=int, default=500)
    a.add_argument("--json", action="store_true", help="print one JSON line")
    d = sub.add_parser("detector", help="one detector bare vs through Serve, batched and unbatched, 8 cameras")
    d.add_argument("--model", help="detector name in settings (default scene, else fall while scene is missing)")
    d.add_argument("--frames", type=int, default=1200, help="frames measured per mode")
    d.add_argument("--cameras", type=int, default=8, help="concurrent clients sending frames to Serve")
    d.add_argument("--batch-size", type=int, default=4, help="max_batch_size of the batched deployment")
    d.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: all cores)")
    d.add_argument("--rounds", type=int, default=6, help="the modes take turns this many times")
    d.add_argument("--json", action="store_true", help="print one JSON line")
    v = sub.add_parser("video", help="held-out scenario scripts through cameras -> Serve -> rules, per scenario")
    v.add_argument("--cameras", type=int, default=8, help="simulated cameras, each with its own script")
    v.add_argument("--seconds", type=float, default=900, help="scene length, run in real time")
    v.add_argument("--seed", type=int, default=0, help="script seed (held out from training)")
    v.add_argument("--fps", type=float, default=1.0, help="frames per second each camera samples")
    v.add_argument("--replay", action="store_true", help="off line, in this process, no latency; lists missed episodes")
    v.add_argument("--json", action="store_true", help="print one JSON line")
    o = sub.add_parser("ops", help="the operations center map at county scale in headless Chromium")
    o.add_argument("--seconds", type=float, default=20, help="length of each measurement window")
    o.add_argument("--sos", type=int, default=20, help="SOS alarms timed from the device to the operator's map")
    o.add_argument("--wristbands", type=int, default=5000)
    o.add_argument("--hives", type=int, default=500)
    o.add_argument("--cameras", type=int, default=400)
    o.add_argument("--stations", type=int, default=50)
    o.add_argument("--json", action="store_true", help="print one JSON line")
    add_ledgers_parser(sub)
    args = parser.parse_args()
    if args.bench == "ledgers":
        result = run_ledgers(args)
    elif args.bench == "ops":
        from runtime.bench_ops import ops

        result = ops(args.seconds, args.sos, args.wristbands, args.hives, args.cameras, args.stations)
    elif args.bench == "video":
        from runtime.bench_video import video

        if args.replay:
            from sim.video_replay import replay

            result = asyncio.run(replay(args.cameras, args.seconds, args.seed, args.fps))
        else:
            result = video(args.cameras, args.seconds, args.seed, args.fps)
    elif args.bench == "detector":
        from sim.bench_detector import detector

        result = detector(args.model, args.frames, args.cameras, args.batch_size, args.threads, args.rounds)
    elif args.bench == "alarm":
        from runtime.bench_alarm import alarm

        result = alarm(args.seconds, args.background_rate, args.events, args.wristbands, args.hives)
    else:
        result = pipeline(args.seconds, args.wristbands, args.hives, args.rate, args.watch_share)
    print(json.dumps(result, ensure_ascii=False) if args.json else json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
