"""`make demo`: the platform with embedded defaults plus simulated devices at demo scale, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import cast

import msgspec
import ray
import redis

from actors.kinds import actor_class
from adapters.accounts import Accounts
from adapters.accounts_cli import create_demo_accounts
from adapters.bus import EVENTS, INCIDENTS, Entry
from adapters.push.tokens import add_token
from adapters.rosters import OFFICERS
from core.events import EVENT_DECODER
from core.incidents import TicketEvent
from core.settings import Settings, load_settings
from ledgers.migrate import MigrationNeeded
from runtime.demo_records import demo_villager, load_demo_records
from runtime.platform import Platform, on_stop_signal
from sim.camera import CameraServer, provision_cameras
from sim.fleet import Fleet, build_fleet, provision
from sim.load import LoadConfig
from sim.loop_thread import LoopThread
from sim.scenario import scripts as camera_scripts
from sim.station import StationServer, provision_stations
from sim.station import scripts as station_scripts

TICKET_DECODER = msgspec.msgpack.Decoder(TicketEvent)

# injected incidents (seconds after start), so the demo shows every path within a few minutes
BAND_SCENARIOS = [(20.0, "sos"), (40.0, "fall"), (60.0, "band_removed"), (80.0, "hr_high"), (100.0, "geofence_exit")]
HIVE_SCENARIOS = [(30.0, "swarm"), (90.0, "theft")]


def _scenarios(fleet: Fleet) -> dict[str, list[tuple[float, str]]]:
    """One incident each on the first devices of the fleet, plus an SOS from a watch."""
    out = {p.device_id: [s] for p, s in zip(fleet.bands, BAND_SCENARIOS, strict=False)}
    out |= {p.device_id: [s] for p, s in zip(fleet.hives, HIVE_SCENARIOS, strict=False)}
    if fleet.watches:
        out[fleet.watches[0].device_id] = [(50.0, "sos")]
    return out


def main() -> None:
    """Start everything, print where it runs, stream device events in Chinese, stop on Ctrl-C."""
    parser = argparse.ArgumentParser(description="Run the platform with simulated devices at demo scale.")
    parser.add_argument("--wristbands", type=int, default=300)
    parser.add_argument("--hives", type=int, default=60)
    parser.add_argument("--rate", type=float, default=300.0, help="messages per second over the demo fleet")
    parser.add_argument("--cameras", type=int, default=4, help="simulated village cameras (scripted scenes)")
    parser.add_argument("--stations", type=int, default=1, help="simulated road advisory stations")
    args = parser.parse_args()
    settings = load_settings()
    if not settings.workflows.open311_keys:  # a key for trying the Open311 API against the demo
        keys = {secrets.token_urlsafe(12): "演示第三方应用"}
        settings = settings.model_copy(
            update={"workflows": settings.workflows.model_copy(update={"open311_keys": keys})}
        )
    try:
        platform = Platform(settings).start()
    except MigrationNeeded as exc:
        raise SystemExit(f"not started: {exc}") from None
    sim: subprocess.Popen[bytes] | None = None
    video: _VideoSims | None = None
    stopped = on_stop_signal()
    try:
        if settings.serve.enabled:
            video = _VideoSims(platform.redis_url, args.cameras, args.stations)
        fleet = build_fleet(args.wristbands, args.hives)
        client = redis.Redis.from_url(platform.redis_url)
        token = asyncio.run(_provision(platform.redis_url, fleet))
        ray.get(platform.ingest.refresh_registry.remote())
        cfg = LoadConfig(
            ingest_url=f"http://{settings.ingest.host}:{settings.ingest.port}", watch_host=settings.watch.host,
            watch_port=settings.watch.port, master_key=settings.device_master_key.get_secret_value(),
            wristbands=args.wristbands, hives=args.hives, rate=args.rate, seconds=10**9, upload_s=5.0,
            scenarios=_scenarios(fleet),
        )  # fmt: skip
        cmd = [sys.executable, "-m", "sim.load", "--config", msgspec.json.encode(cfg).decode()]
        sim = subprocess.Popen(cmd, start_new_session=True)
        print("\n舟曲县乡村振兴数字服务平台 — 演示运行中 (Ctrl-C 停止)\n" + platform.describe(), flush=True)
        page = f"http://{settings.push.host}:{settings.push.page_port}/responder#token={token}"
        officer_of = fleet.bands[0].village
        print(f"Duty officer     {officer_of} 值班干部手机页面 (demo token, shown once): {page}", flush=True)
        print(
            f"Simulators       {len(fleet.bands)} wristbands (HTTP), {len(fleet.watches)} watches (TCP), "
            f"{len(fleet.hives)} beehives at {args.rate:g} msg/s, pid {sim.pid}",
            flush=True,
        )
        print(video.describe() if video else "Video            off (serve.enabled is false)", flush=True)
        written = load_demo_records(platform.records) if platform.records else {}
        if written:  # once: a later `make demo` on the same var/ finds the households and leaves them
            print(
                f"Ledger records   synthetic 演示数据 written: {written.get('household', 0)} households, "
                f"{written.get('member', 0)} members, {sum(written.values())} records in all",
                flush=True,
            )
        villager = demo_villager(platform.records) if platform.records else None
        if villager:
            w = settings.workflows
            outbox = settings.var_dir / "citizen" / "sms_outbox.jsonl"
            print(f"Citizen phone    http://{w.citizen_host}:{w.citizen_port}/h5  演示村民 {villager[0]} "
                  f"手机 {villager[1]} (login code in {outbox})", flush=True)  # fmt: skip
        print(f"Open311 api_key  {next(iter(settings.workflows.open311_keys))} (see docs/open311.md)", flush=True)
        made = asyncio.run(_accounts(platform.redis_url, settings))
        if made:  # shown once: a later `make demo` on the same var/ keeps them and prints nothing
            print("Demo accounts    (shown once; `python -m adapters.accounts_cli passwd NAME` resets one)", flush=True)
            for username, name, password in made:
                print(f"                 {username:<18} {password:<16} {name}", flush=True)
        _tail_events(client, stopped)
    finally:
        if sim and sim.poll() is None:
            sim.terminate()
            sim.wait(10)
        if video:
            video.stop()
        platform.stop()
        print("已停止 (stopped)", flush=True)


async def _accounts(url: str, settings: Settings) -> list[tuple[str, str, str]]:
    """Demo accounts of the ops center that did not exist yet, as (username, name, password): printed once."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    made = await create_demo_accounts(Accounts(client, settings.ops))
    await client.aclose()
    return [(u.username, u.name, pw) for u, pw in made]


async def _provision(url: str, fleet: Fleet) -> str:
    """Register the fleet, give every village a duty officer, and a phone token to the first SOS village's officer."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    await provision(client, fleet)
    villages = sorted({p.village for p in fleet.all})
    officers = {v: f"officer-{i:03d}" for i, v in enumerate(villages)}
    await client.hset(OFFICERS, mapping=officers)  # type: ignore[arg-type]
    token = await add_token(client, officers[fleet.bands[0].village])
    await client.aclose()
    return token


class _VideoSims:
    """Simulated village cameras (scripted scenes, looping) and road advisory stations, registered as devices."""

    def __init__(self, redis_url: str, cameras: int, stations: int) -> None:
        import redis.asyncio as aioredis

        self.loop = LoopThread()
        self.scripts = camera_scripts(cameras, 900.0)
        self.cameras = CameraServer(self.scripts, loop=True)
        self.stations = StationServer(station_scripts(stations, 900.0))

        async def start() -> None:
            client = aioredis.Redis.from_url(redis_url)
            await self.cameras.start()
            await self.stations.start()
            profiles = await provision_cameras(client, self.cameras.url, self.scripts)
            profiles += await provision_stations(client, self.stations)
            for p in profiles:  # every camera's village gets a duty officer for the pushes
                await client.hsetnx(OFFICERS, p.village, f"officer-{p.village}")
            await client.aclose()

        self.loop.run(start())

    def describe(self) -> str:
        """Where the simulated video devices serve, for people."""
        return (
            f"Cameras          {len(self.scripts)} simulated cameras {self.cameras.url}/cameras "
            "(fire, smoke, crowd, garbage, parking, wrong way, water, elderly fall; scripted, looping)\n"
            f"Stations         {len(self.stations.stations)} road advisory stations {self.stations.url}/stations "
            "(plates, speed, voice warnings)\n"
        )

    def stop(self) -> None:
        """Stop both simulators and their loop."""
        self.loop.run(self.cameras.stop())
        self.loop.run(self.stations.stop())
        self.loop.close()


def _tail_events(client: redis.Redis, stopped: Callable[[], bool]) -> None:
    last_event: str | bytes = "$"
    last_ticket: str | bytes = "$"
    next_stats = time.monotonic() + 30
    while not stopped():
        # no decode_responses, RESP2: [[stream, [(id, fields), ...]]] of bytes, or None on timeout
        reply = cast(
            list[tuple[bytes, list[Entry]]] | None,
            client.xread({EVENTS: last_event, INCIDENTS: last_ticket}, count=100, block=1000),
        )
        for stream, entries in reply or []:
            for entry_id, fields in entries:
                if stream == EVENTS.encode():
                    last_event = entry_id
                    e = EVENT_DECODER.decode(fields[b"e"])
                    at = datetime.fromtimestamp(e.ts / 1000).strftime("%H:%M:%S")
                    print(f"[{at}] {actor_class(e.kind).label(e.type)}  设备 {e.device_id}  {e.village}", flush=True)
                else:
                    last_ticket = entry_id
                    t = TICKET_DECODER.decode(fields[b"t"])
                    at = datetime.fromtimestamp(t.ts / 1000).strftime("%H:%M:%S")
                    step = f"{t.from_state or '—'} → {t.to_state}"
                    print(f"[{at}]   工单 {t.ticket_id}  {t.action}: {step}  ({t.actor}) {t.note}", flush=True)
        if time.monotonic() > next_stats:
            next_stats = time.monotonic() + 30
            lengths = {s: client.xlen(s) for s in (EVENTS, "store")}
            print(f"--- streams: {lengths}", flush=True)


if __name__ == "__main__":
    main()
