"""What runs and how well: Redis, the Ray parts, Serve, the sink, stream backlogs, live state and dead letters.

Plain async functions returning `HealthRow`s, so the health page and the tests call the same code. Every check
bounds its own wait and turns its own failure into a 故障 row: one stalled part never hides the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from actors.kinds import device_kinds
from adapters import bus, sink
from adapters.reports import REPORTS
from core.settings import Settings

OK, WARN, FAIL, OFF = "正常", "注意", "故障", "未启用"
STATUS_COLOR = {OK: "#27ae60", WARN: "#f39c12", FAIL: "#e74c3c", OFF: "#7f8c8d"}
RANK = {OFF: 0, OK: 1, WARN: 2, FAIL: 3}

PROBE_TIMEOUT_S = 2.0  # a Ray part that does not answer `stats` within this is 无响应
REDIS_TIMEOUT_S = 2.0  # one Redis check (PING, INFO, XINFO) longer than this fails the check
SERVE_TIMEOUT_S = 5.0  # serve.status() asks the Serve controller
CHECK_TIMEOUT_S = 6.0  # a whole group of checks (e.g. every stream) longer than this shows as 无响应
PING_WARN_MS = 50.0  # PING round trip
PING_FAIL_MS = 500.0
MEMORY_WARN = 0.80  # share of maxmemory in use (only when maxmemory is set)
MEMORY_FAIL = 0.95
SINK_LAG_WARN_S = 10.0  # age of the oldest store entry the sink has not yet written
SINK_LAG_FAIL_S = 60.0
BACKLOG_WARN = 1_000  # entries a consumer group has not yet read or acknowledged
BACKLOG_FAIL = 10_000
LIVE_STALE_WARN_S = 5.0  # seconds since the live state last read the device twins
LIVE_STALE_FAIL_S = 30.0
DEAD_RECENT_S = 3_600.0  # a dead letter newer than this needs a look
# every stream of adapters/bus.py (the dead-letter stream has its own row) and the citizen reports
STREAMS = (bus.EVENTS, bus.STORE, bus.COMMANDS, REPORTS, bus.INCIDENTS, bus.DISPATCH, bus.RESULTS, bus.SPEAKER)


@dataclass(frozen=True)
class HealthRow:
    """One line of the health page: area, item, status (正常/注意/故障/未启用), headline value, detail."""

    group: str
    name: str
    status: str
    value: str
    detail: str = ""


@dataclass(frozen=True)
class GroupBacklog:
    """One consumer group of a stream: entries delivered but unacknowledged, entries not yet read (None: unknown)."""

    name: str
    consumers: int
    pending: int
    lag: int | None
    last_delivered: str = "0-0"

    @property
    def backlog(self) -> int:
        """Pending plus unread entries (unread counts as 0 when Redis cannot tell)."""
        return self.pending + (self.lag or 0)


@dataclass(frozen=True)
class StreamBacklog:
    """A stream's length and its consumer groups; `exists` False when nothing created it yet."""

    stream: str
    exists: bool
    length: int
    groups: tuple[GroupBacklog, ...]


@dataclass(frozen=True)
class SinkLag:
    """The sink group on the store stream: pending count, unread count and the oldest unwritten entry's age."""

    exists: bool
    pending: int
    lag: int | None
    oldest_age_s: float | None


def level(value: float, warn: float, fail: float) -> str:
    """正常 below warn, 注意 below fail, else 故障."""
    return OK if value < warn else (WARN if value < fail else FAIL)


def worst(rows: list[HealthRow]) -> str:
    """The most serious status among rows (未启用 when there are none)."""
    return max((r.status for r in rows), key=RANK.__getitem__, default=OFF)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _id_ms(entry_id: Any) -> int:
    return int(_s(entry_id).partition("-")[0])


async def _redis_now_ms(redis: aioredis.Redis) -> int:
    sec, usec = cast(tuple[int, int], await redis.time())
    return sec * 1000 + usec // 1000


async def _guard(
    group: str, name: str, check: Callable[[], Awaitable[list[HealthRow]]], limit: float = CHECK_TIMEOUT_S
) -> list[HealthRow]:
    """Run one check with a time limit; a failure or timeout becomes one 故障 row naming the error."""
    try:
        return await asyncio.wait_for(check(), limit)
    except TimeoutError:
        return [HealthRow(group, name, FAIL, "无响应", f"检查超过 {limit:g} 秒未完成")]
    except Exception as exc:
        return [HealthRow(group, name, FAIL, "检查失败", f"{type(exc).__name__}: {str(exc)[:200]}")]


# --- Redis -------------------------------------------------------------------------------------------------------


async def redis_rows(redis: aioredis.Redis) -> list[HealthRow]:
    """PING latency, memory in use and AOF persistence state."""
    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(redis.ping(), REDIS_TIMEOUT_S)
    except Exception as exc:
        text = "超时" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {str(exc)[:200]}"
        return [HealthRow("Redis", "连接", FAIL, "无响应", text)]
    ms = (time.perf_counter() - t0) * 1000
    rows = [HealthRow("Redis", "连接", level(ms, PING_WARN_MS, PING_FAIL_MS), f"PING {ms:.1f} 毫秒")]
    info = cast(dict[str, Any], await asyncio.wait_for(redis.info(), REDIS_TIMEOUT_S))
    used, cap = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
    human = _s(info.get("used_memory_human", f"{used} B"))
    if cap:
        rows.append(HealthRow("Redis", "内存", level(used / cap, MEMORY_WARN, MEMORY_FAIL), human,
                              f"上限的 {used / cap:.0%}"))  # fmt: skip
    else:
        rows.append(HealthRow("Redis", "内存", OK, human, "未设上限(maxmemory 0)"))
    rows.append(_aof_row(info))
    return rows


def _aof_row(info: dict[str, Any]) -> HealthRow:
    if not int(info.get("aof_enabled", 0)):
        return HealthRow("Redis", "AOF 持久化", WARN, "未开启", "重启后将丢失未落盘的数据")
    write, rewrite = _s(info.get("aof_last_write_status", "ok")), _s(info.get("aof_last_bgrewrite_status", "ok"))
    detail = f"最近写入 {write},最近重写 {rewrite}"
    if int(info.get("aof_rewrite_in_progress", 0)):
        detail += ",重写进行中"
    status = FAIL if write != "ok" else (WARN if rewrite != "ok" else OK)
    return HealthRow("Redis", "AOF 持久化", status, "已开启" if status == OK else "异常", detail)


# --- Ray parts and Serve -------------------------------------------------------------------------------------------


def _summary(stats: dict[str, Any], limit: int = 160) -> str:
    parts = [f"{k}={v}" for k, v in stats.items() if isinstance(v, int | float | str | bool) and v != ""]
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def probe_row(name: str, handle: Any, timeout: float = PROBE_TIMEOUT_S) -> HealthRow:
    """One Ray part: 正常 with its counters, 无响应 with the error, 故障 when its loop has stopped."""
    try:
        stats = await asyncio.wait_for(handle.stats.remote(), timeout)
    except TimeoutError:
        return HealthRow("Ray 组件", name, FAIL, "无响应", f"{timeout:g} 秒内未应答")
    except Exception as exc:
        return HealthRow("Ray 组件", name, FAIL, "无响应", f"{type(exc).__name__}: {str(exc)[:200]}")
    stats = dict(stats or {})
    if stats.get("alive") is False or stats.get("running") is False:
        return HealthRow("Ray 组件", name, FAIL, "循环已停止", _summary(stats))
    error = str(stats.get("last_error") or stats.get("error") or "")
    if error:
        return HealthRow("Ray 组件", name, WARN, "有错误", f"最近错误: {error[:160]}")
    return HealthRow("Ray 组件", name, OK, "正常", _summary(stats))


async def probe_rows(probes: dict[str, Any], timeout: float = PROBE_TIMEOUT_S) -> list[HealthRow]:
    """Every Ray part, asked at once; 未启用 when this process runs without Ray parts."""
    if not probes:
        return [HealthRow("Ray 组件", "全部", OFF, "未启用", "本进程未连接平台的 Ray 组件")]
    return list(await asyncio.gather(*(probe_row(n, h, timeout) for n, h in sorted(probes.items()))))


SERVE_STATUS = {"HEALTHY": OK, "UPDATING": WARN, "UPSCALING": WARN, "DOWNSCALING": WARN, "UNHEALTHY": FAIL,
                "DEPLOY_FAILED": FAIL}  # fmt: skip


async def serve_rows(timeout: float = SERVE_TIMEOUT_S) -> list[HealthRow]:
    """Each Serve deployment's status and replicas; 未启用 when Ray or Serve is not running here."""
    import ray

    if not ray.is_initialized():
        return [HealthRow("Serve", "模型服务", OFF, "未启用", "本进程未连接 Ray")]
    from ray import serve

    try:
        status = await asyncio.wait_for(asyncio.to_thread(serve.status), timeout)
    except TimeoutError:
        return [HealthRow("Serve", "模型服务", FAIL, "无响应", f"Serve 控制器 {timeout:g} 秒内未应答")]
    except Exception as exc:
        return [HealthRow("Serve", "模型服务", FAIL, "无响应", f"{type(exc).__name__}: {str(exc)[:200]}")]
    rows = []
    for app_name, app in sorted(status.applications.items()):
        for dep_name, dep in sorted(app.deployments.items()):
            state = _s(getattr(dep.status, "value", dep.status))
            replicas = ", ".join(f"{_s(getattr(k, 'value', k))} {n}" for k, n in dep.replica_states.items())
            detail = f"副本: {replicas or '无'}" + (f";{dep.message[:120]}" if dep.message else "")
            rows.append(HealthRow("Serve", f"{app_name}/{dep_name}", SERVE_STATUS.get(state, WARN), state, detail))
    return rows or [HealthRow("Serve", "模型服务", OFF, "未启用", "Serve 未运行任何应用")]


# --- streams --------------------------------------------------------------------------------------------------------


async def stream_backlog(redis: aioredis.Redis, stream: str) -> StreamBacklog:
    """XLEN and XINFO GROUPS of one stream."""
    if not await redis.exists(stream):
        return StreamBacklog(stream, False, 0, ())
    length = int(await redis.xlen(stream))
    groups = cast(list[dict[str, Any]], await redis.xinfo_groups(stream))
    found = tuple(
        GroupBacklog(_s(g["name"]), int(g.get("consumers", 0)), int(g.get("pending", 0)),
                     None if g.get("lag") is None else int(g["lag"]), _s(g.get("last-delivered-id", "0-0")))
        for g in groups
    )  # fmt: skip
    return StreamBacklog(stream, True, length, found)


def tele_streams(settings: Settings) -> list[str]:
    """tele.<kind>.<shard> of every stream-hosted device kind and shard."""
    return [bus.tele_stream(kind, n) for kind, cls in sorted(device_kinds().items()) if cls.hosted == "stream"
            for n in range(settings.shard_count(kind))]  # fmt: skip


def backlog_row(b: StreamBacklog) -> HealthRow:
    """A stream as a row: its status is that of its most backed-up group."""
    if not b.exists:
        return HealthRow("消息流", b.stream, OFF, "未创建", "尚无写入或消费者")
    parts = [f"{g.name}: 待确认 {g.pending},未读 {'未知' if g.lag is None else g.lag},消费者 {g.consumers}"
             for g in b.groups]  # fmt: skip
    most = max((g.backlog for g in b.groups), default=0)
    status = level(most, BACKLOG_WARN, BACKLOG_FAIL) if b.groups else OK
    return HealthRow("消息流", b.stream, status, f"长度 {b.length}", ";".join(parts) or "无消费组(按需读取)")


async def stream_rows(redis: aioredis.Redis, settings: Settings) -> list[HealthRow]:
    """Every platform stream and telemetry shard: length and each group's pending and unread entries."""
    names = [*STREAMS, *tele_streams(settings)]
    return [backlog_row(await stream_backlog(redis, s)) for s in names]


async def sink_lag(redis: aioredis.Redis) -> SinkLag:
    """Pending and unread entries of the sink group, and the age of the oldest one not yet written."""
    b = await stream_backlog(redis, bus.STORE)
    group = next((g for g in b.groups if g.name == sink.GROUP), None)
    if group is None:
        return SinkLag(False, 0, None, None)
    oldest: list[int] = []
    if group.pending:
        summary = cast(dict[str, Any], await redis.xpending(bus.STORE, sink.GROUP))
        oldest.append(_id_ms(summary["min"]))
    after = cast(list[Any], await redis.xrange(bus.STORE, min=f"({group.last_delivered}", count=1))
    if after:
        oldest.append(_id_ms(after[0][0]))
    age = (await _redis_now_ms(redis) - min(oldest)) / 1000 if oldest else None
    return SinkLag(True, group.pending, group.lag, None if age is None else max(age, 0.0))


def sink_row(lag: SinkLag) -> HealthRow:
    """The sink as a row: the oldest unwritten entry's age decides."""
    if not lag.exists:
        return HealthRow("存储", "写入延迟(sink)", WARN, "消费组未创建", "存储服务未启动,遥测不会写入 ClickHouse")
    unread = "未知" if lag.lag is None else str(lag.lag)
    detail = f"待确认 {lag.pending},未读 {unread}"
    if lag.oldest_age_s is None:
        return HealthRow("存储", "写入延迟(sink)", OK, "无积压", detail)
    status = level(lag.oldest_age_s, SINK_LAG_WARN_S, SINK_LAG_FAIL_S)
    return HealthRow("存储", "写入延迟(sink)", status, f"最旧 {lag.oldest_age_s:.1f} 秒", detail)


async def dead_row(redis: aioredis.Redis) -> HealthRow:
    """Dead letters: how many, and whether one arrived recently."""
    n = int(await redis.xlen(bus.DEAD))
    if not n:
        return HealthRow("消息流", "死信 dead", OK, "0 条")
    newest = cast(list[Any], await redis.xrevrange(bus.DEAD, count=1))
    age = (await _redis_now_ms(redis) - _id_ms(newest[0][0])) / 1000
    fields = {_s(k): _s(v) for k, v in newest[0][1].items() if _s(k) in ("stream", "error")}
    detail = f"最新 {age / 60:.0f} 分钟前,来自 {fields.get('stream', '?')}: {fields.get('error', '')[:120]}"
    return HealthRow("消息流", "死信 dead", WARN if age < DEAD_RECENT_S else OK, f"{n} 条", detail)


async def lost_row(redis: aioredis.Redis) -> HealthRow:
    """Pending entries that left their stream before they were processed (bus.LOST): any at all is a fault."""
    raw = cast(dict[bytes, bytes], await redis.hgetall(bus.LOST))
    n = sum(int(v) for v in raw.values())
    if not n:
        return HealthRow("消息流", "未处理即被清除", OK, "0 条")
    detail = ";".join(f"{_s(k)}: {int(v)}" for k, v in sorted(raw.items()))
    return HealthRow("消息流", "未处理即被清除", FAIL, f"{n} 条", detail)


# --- live state and everything --------------------------------------------------------------------------------------


def live_row(live: Any, now: float | None = None) -> HealthRow:
    """How fresh this process's live state is (last twin read, in event-loop time) and its read failures."""
    if live is None:
        return HealthRow("实时状态", "设备与事件", OFF, "未启用")
    now = asyncio.get_running_loop().time() if now is None else now
    detail = f"版本 {live.version},设备 {len(live.devices)},事件 {len(live.tickets)},累计读取失败 {live.errors} 次"
    if not live.last_twin_read:
        return HealthRow("实时状态", "设备与事件", FAIL, "从未读取", detail)
    age = max(now - live.last_twin_read, 0.0)
    return HealthRow("实时状态", "设备与事件", level(age, LIVE_STALE_WARN_S, LIVE_STALE_FAIL_S), f"{age:.1f} 秒前",
                     detail)  # fmt: skip


async def collect(ctx: Any) -> list[HealthRow]:
    """Every check of the health page, run at once; each bounded and failing on its own."""
    redis: aioredis.Redis = ctx.redis

    async def sink_check() -> list[HealthRow]:
        return [sink_row(await sink_lag(redis))]

    async def stream_check() -> list[HealthRow]:
        return [*await stream_rows(redis, ctx.settings), await dead_row(redis), await lost_row(redis)]

    async def live_check() -> list[HealthRow]:
        return [live_row(ctx.live)]

    parts = await asyncio.gather(
        _guard("Redis", "连接", lambda: redis_rows(redis)),
        _guard("Ray 组件", "全部", lambda: probe_rows(ctx.probes)),
        _guard("Serve", "模型服务", serve_rows),
        _guard("存储", "写入延迟(sink)", sink_check),
        _guard("消息流", "全部", stream_check),
        _guard("实时状态", "设备与事件", live_check),
    )
    return [row for part in parts for row in part]
