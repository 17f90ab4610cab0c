"""Load simulator: a fleet of devices speaking the real protocols (signed HTTP msgpack, watch TCP) at a set rate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec

from core.events import Sample
from core.kinds import DeviceProfile
from core.signing import device_key, sign
from sim.beehive import BeehiveSim
from sim.fleet import build_fleet
from sim.watch import frames_for
from sim.wristband import WristbandSim

WATCH_FRAMES_PER_READING = 3
ALARM_REPEAT_MS = 90_000


@dataclass
class LoadConfig:
    """What to simulate and where to send it."""

    ingest_url: str = "http://127.0.0.1:8710"
    watch_host: str = "127.0.0.1"
    watch_port: int = 8711
    master_key: str = "zhouqu-demo-master-key-change-me"
    wristbands: int = 5000
    hives: int = 500
    watch_share: float = 0.1
    rate: float = 10_000.0  # messages per second over the whole fleet
    seconds: float = 60.0
    upload_s: float = 10.0  # devices upload their buffered readings this often (alarms at once)
    seed: int = 7
    max_in_flight: int = 128
    scenarios: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # device -> [(after_s, type)]


@dataclass
class LoadResult:
    """What was sent and accepted; `log` rows are (device_id, first_seq, count, send_ms) of accepted uploads."""

    sent: int = 0  # messages accepted by the platform (HTTP 200 or written to a watch connection)
    sent_http: int = 0
    sent_watch: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    log: list[tuple[str, int, int, int]] = field(default_factory=list)


class _Device:
    """One simulated HTTP device: its signal generator, key, sequence and unsent buffer."""

    __slots__ = ("buf", "buf_since", "key", "profile", "seq", "sim")

    def __init__(self, profile: DeviceProfile, sim: Any, key: bytes) -> None:
        self.profile, self.sim, self.key = profile, sim, key
        self.seq = 0
        self.buf: list[Sample[Any]] = []
        self.buf_since = 0.0


class LoadRunner:
    """Drives the fleet; one asyncio loop, samples scheduled on a heap."""

    def __init__(self, cfg: LoadConfig) -> None:
        self.cfg = cfg
        self.result = LoadResult()
        self._enc = msgspec.msgpack.Encoder()
        self._sem = asyncio.Semaphore(cfg.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._readers: list[asyncio.Task[None]] = []
        self._alarmed: dict[tuple[str, str], int] = {}
        fleet = build_fleet(cfg.wristbands, cfg.hives, cfg.watch_share, cfg.seed)
        master = cfg.master_key.encode()
        t0 = int(time.time() * 1000)

        def scenarios(p: DeviceProfile, cls: Any) -> list[Any]:
            return [cls(at_ms=t0 + int(s * 1000), type=t) for s, t in cfg.scenarios.get(p.device_id, [])]

        from sim import beehive as bh
        from sim import wristband as wb

        self.devices = [
            _Device(p, WristbandSim(p, i, scenarios(p, wb.Scenario)), device_key(master, p.device_id))
            for i, p in enumerate(fleet.bands)
        ] + [
            _Device(p, BeehiveSim(p, i, scenarios(p, bh.Scenario)), device_key(master, p.device_id))
            for i, p in enumerate(fleet.hives)
        ]
        self.watches = [(p, WristbandSim(p, i, scenarios(p, wb.Scenario))) for i, p in enumerate(fleet.watches)]
        # every device takes a reading each `period`; a watch reading goes out as ~3 frames (position, heart,
        # temperature), each one message, so the fleet sends cfg.rate messages per second
        self.period = (len(self.devices) + WATCH_FRAMES_PER_READING * len(self.watches)) / cfg.rate

    async def run(self) -> LoadResult:
        """Run for cfg.seconds, then wait for uploads in flight."""
        conn = aiohttp.TCPConnector(limit=self.cfg.max_in_flight, force_close=False)
        async with aiohttp.ClientSession(self.cfg.ingest_url, connector=conn) as http:
            writers = await self._connect_watches()
            await self._drive(http, writers)
            for d in self.devices:  # last partial buffers
                if d.buf:
                    self._upload(http, d)
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for w in writers.values():
                w.close()
            for r in self._readers:
                r.cancel()
        return self.result

    async def _connect_watches(self) -> dict[str, asyncio.StreamWriter]:
        writers: dict[str, asyncio.StreamWriter] = {}
        for p, _ in self.watches:
            try:
                reader, writer = await asyncio.open_connection(self.cfg.watch_host, self.cfg.watch_port)
            except OSError:
                self.result.errors += 1
                continue
            writer.write(b"[3G*%s*0002*LK]" % p.device_id.encode())
            writers[p.device_id] = writer
            self._readers.append(asyncio.get_running_loop().create_task(self._drain(reader)))
        return writers

    async def _drive(self, http: aiohttp.ClientSession, writers: dict[str, asyncio.StreamWriter]) -> None:
        rng = random.Random(self.cfg.seed)
        start = time.monotonic()
        heap: list[tuple[float, int]] = [(start + rng.random() * self.period, i) for i in range(len(self.devices))]
        heap += [(start + rng.random() * self.period, -1 - j) for j in range(len(self.watches))]
        heapq.heapify(heap)
        upload_phase = {i: rng.random() * self.cfg.upload_s for i in range(len(self.devices))}
        end = start + self.cfg.seconds
        while heap:
            now = time.monotonic()
            if now >= end:
                break
            wall = int(time.time() * 1000)
            while heap and heap[0][0] <= now:
                due, i = heapq.heappop(heap)
                heapq.heappush(heap, (due + self.period, i))
                ts = wall - int((now - due) * 1000)
                if i < 0:
                    self._watch_sample(writers, -1 - i, ts)
                    continue
                d = self.devices[i]
                reading = self._once(d.profile.device_id, d.sim.sample(ts), ts)
                d.seq += 1
                if not d.buf:
                    d.buf_since = now - upload_phase.pop(i, 0.0)
                d.buf.append(Sample(seq=d.seq, ts=ts, v=reading))
                if getattr(reading, "alarm", None) or now - d.buf_since >= self.cfg.upload_s:
                    self._upload(http, d)
            await asyncio.sleep(0.02)

    def _watch_sample(self, writers: dict[str, asyncio.StreamWriter], j: int, ts: int) -> None:
        p, sim = self.watches[j]
        writer = writers.get(p.device_id)
        if writer is None or writer.is_closing():
            return
        frames = frames_for("3G", p.device_id, ts, self._once(p.device_id, sim.sample(ts), ts))
        writer.write(b"".join(frames))
        self.result.sent_watch += len(frames)
        self.result.sent += len(frames)

    def _once(self, device_id: str, reading: Any, ts: int) -> Any:
        """A person presses SOS once: an alarm scenario's later readings within a minute carry no alarm."""
        alarm = getattr(reading, "alarm", None)
        if alarm is None:
            return reading
        last = self._alarmed.get((device_id, alarm))
        if last is not None and ts - last < ALARM_REPEAT_MS:
            return msgspec.structs.replace(reading, alarm=None)
        self._alarmed[(device_id, alarm)] = ts
        return reading

    def _upload(self, http: aiohttp.ClientSession, d: _Device) -> None:
        batch, d.buf = d.buf, []
        self._spawn(self._post(http, d, batch))

    async def _post(self, http: aiohttp.ClientSession, d: _Device, batch: list[Sample[Any]]) -> None:
        body = self._enc.encode(batch)
        async with self._sem:
            for _attempt in range(5):
                ts = int(time.time() * 1000)
                headers = {
                    "X-Device-Id": d.profile.device_id, "X-Timestamp": str(ts),
                    "X-Signature": sign(d.key, ts, body), "Content-Type": "application/msgpack",
                }  # fmt: skip
                try:
                    async with http.post("/v1/telemetry", data=body, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                except aiohttp.ClientError:
                    self.result.errors += 1
                    await asyncio.sleep(0.5)
                    continue
                if status == 200:
                    self.result.sent += len(batch)
                    self.result.sent_http += len(batch)
                    self.result.log.append((d.profile.device_id, batch[0].seq, len(batch), ts))
                    return
                self.result.refused[str(status)] = self.result.refused.get(str(status), 0) + 1
                if status not in (429, 503):
                    return
                await asyncio.sleep(1.0)

    async def _drain(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(Exception):
            while await reader.read(4096):
                pass

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def main() -> None:
    """Run the load simulator from the command line; prints a JSON summary."""
    p = argparse.ArgumentParser(description="Simulated wristbands, watches and beehives against the ingest edge.")
    p.add_argument("--config", help="LoadConfig as JSON (used by the benchmark)")
    p.add_argument("--out", help="write the result (msgpack) here")
    args = p.parse_args()
    cfg = msgspec.json.decode(args.config, type=LoadConfig) if args.config else LoadConfig()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    try:
        result = asyncio.run(LoadRunner(cfg).run())
    except KeyboardInterrupt:
        return
    if args.out:
        with open(args.out, "wb") as fh:
            fh.write(msgspec.msgpack.encode(result))
    summary = {
        "sent": result.sent, "sent_http": result.sent_http, "sent_watch": result.sent_watch,
        "refused": result.refused, "errors": result.errors,
    }  # fmt: skip
    print(msgspec.json.encode(summary).decode(), flush=True)


if __name__ == "__main__":
    main()
