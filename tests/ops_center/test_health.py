"""The health checks on a real Redis: stream backlogs and lag, sink lag, dead letters, probes that hang or fail."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from adapters import bus
from adapters.sink import GROUP as SINK_GROUP
from core.settings import Settings
from ops_center import health_probe as hp
from ops_center.background import Loader
from ops_center.context import OpsContext
from ops_center.live import LiveState
from ops_center.pages.health import HealthView


async def fill(r: aioredis.Redis, stream: str, ages_s: list[float]) -> list[bytes]:
    """Entries whose ids lie `ages_s` seconds in the past (oldest first)."""
    now = int(time.time() * 1000)
    return [
        cast(bytes, await r.xadd(stream, {b"i": b"x"}, id=f"{now - int(a * 1000)}-{n}")) for n, a in enumerate(ages_s)
    ]


async def deliver(r: aioredis.Redis, stream: str, group: str, n: int) -> list[bytes]:
    """Read n entries for `group` without acknowledging them (they become pending)."""
    got = cast(list[Any], await r.xreadgroup(group, "c1", {stream: ">"}, count=n))
    return [entry_id for entry_id, _ in got[0][1]] if got else []


# --- probes: a fake stands in for a Ray actor handle at the edge of this unit ---------------------------------------


class FakeProbe:
    """Something with `stats.remote()` like a Ray actor handle: answers, hangs forever, or fails."""

    def __init__(self, behaviour: str, stats: dict[str, Any] | None = None) -> None:
        self.behaviour, self.answer = behaviour, stats or {"pid": 1, "alive": True}
        self.stats = SimpleNamespace(remote=self._remote)

    def _remote(self) -> Any:
        if self.behaviour == "hang":
            return asyncio.get_running_loop().create_future()  # never resolved

        async def call() -> dict[str, Any]:
            if self.behaviour == "raise":
                raise RuntimeError("The actor died unexpectedly before finishing this task.")
            return self.answer

        return call()


@pytest.mark.asyncio
async def test_a_probe_that_never_answers_shows_no_response_within_the_timeout() -> None:
    started = time.monotonic()
    row = await hp.probe_row("store", FakeProbe("hang"), timeout=0.2)
    assert (row.status, row.value) == (hp.FAIL, "无响应")
    assert "0.2 秒内未应答" in row.detail
    assert time.monotonic() - started < 1.5


@pytest.mark.asyncio
async def test_a_probe_that_raises_shows_no_response_with_the_error() -> None:
    row = await hp.probe_row("desk", FakeProbe("raise"))
    assert (row.status, row.value) == (hp.FAIL, "无响应")
    assert "RuntimeError" in row.detail and "died unexpectedly" in row.detail


@pytest.mark.asyncio
async def test_probes_are_asked_at_once_and_a_hung_one_does_not_hide_the_others() -> None:
    probes = {
        "host:wristband.0": FakeProbe("hang"),
        "ingest": FakeProbe("ok", {"published": 10, "pid": 7}),
        "store": FakeProbe("ok", {"rows_written": 5, "alive": False}),
        "push": FakeProbe("ok", {"port": 1, "last_error": "connection refused"}),
    }
    rows = {r.name: r for r in await hp.probe_rows(probes, timeout=0.3)}
    assert rows["host:wristband.0"].value == "无响应"
    assert (rows["ingest"].status, rows["ingest"].value) == (hp.OK, "正常")
    assert "published=10" in rows["ingest"].detail
    assert (rows["store"].status, rows["store"].value) == (hp.FAIL, "循环已停止")
    assert rows["push"].status == hp.WARN and "connection refused" in rows["push"].detail
    assert (await hp.probe_rows({}))[0].status == hp.OFF


# --- streams ---------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stream_backlog_reports_length_pending_and_unread_per_group(r: aioredis.Redis) -> None:
    await fill(r, bus.EVENTS, [5.0] * 10)
    await r.xgroup_create(bus.EVENTS, "rules", id="0")
    await r.xgroup_create(bus.EVENTS, "idle", id="$")  # created after the entries: nothing to read
    await deliver(r, bus.EVENTS, "rules", 4)
    b = await hp.stream_backlog(r, bus.EVENTS)
    groups = {g.name: g for g in b.groups}
    assert (b.exists, b.length) == (True, 10)
    assert (groups["rules"].pending, groups["rules"].lag, groups["rules"].consumers) == (4, 6, 1)
    assert (groups["idle"].pending, groups["idle"].lag) == (0, 0)
    row = hp.backlog_row(b)
    assert (row.status, row.value) == (hp.OK, "长度 10")
    assert "rules: 待确认 4,未读 6" in row.detail


@pytest.mark.asyncio
async def test_a_backlog_over_the_thresholds_turns_the_row_amber_then_red(
    r: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill(r, bus.COMMANDS, [1.0] * 12)
    await r.xgroup_create(bus.COMMANDS, "desk", id="0")
    await deliver(r, bus.COMMANDS, "desk", 2)  # 2 pending + 10 unread = 12
    monkeypatch.setattr(hp, "BACKLOG_WARN", 10)
    monkeypatch.setattr(hp, "BACKLOG_FAIL", 100)
    assert hp.backlog_row(await hp.stream_backlog(r, bus.COMMANDS)).status == hp.WARN
    monkeypatch.setattr(hp, "BACKLOG_FAIL", 12)
    assert hp.backlog_row(await hp.stream_backlog(r, bus.COMMANDS)).status == hp.FAIL


@pytest.mark.asyncio
async def test_stream_rows_cover_every_bus_stream_and_telemetry_shard(r: aioredis.Redis) -> None:
    settings = Settings(shards={"wristband": 2, "beehive": 1})
    await fill(r, "tele.wristband.1", [1.0, 0.5])
    rows = {row.name: row for row in await hp.stream_rows(r, settings)}
    for stream in (bus.EVENTS, bus.STORE, bus.COMMANDS, bus.INCIDENTS, bus.DISPATCH, bus.RESULTS, bus.SPEAKER):
        assert stream in rows
    assert {"tele.wristband.0", "tele.wristband.1", "tele.beehive.0"} <= set(rows)
    assert not any(name.startswith("tele.camera") for name in rows)  # cameras are pulled by video hosts
    assert (rows["tele.wristband.1"].value, rows["tele.wristband.1"].detail) == ("长度 2", "无消费组(按需读取)")
    assert (rows["tele.wristband.0"].status, rows["tele.wristband.0"].value) == (hp.OFF, "未创建")


# --- sink lag and dead letters ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sink_lag_is_the_age_of_the_oldest_entry_not_yet_written(r: aioredis.Redis) -> None:
    assert hp.sink_row(await hp.sink_lag(r)).value == "消费组未创建"
    ids = await fill(r, bus.STORE, [90.0, 30.0, 5.0])
    await r.xgroup_create(bus.STORE, SINK_GROUP, id="0")
    await deliver(r, bus.STORE, SINK_GROUP, 1)
    await r.xack(bus.STORE, SINK_GROUP, ids[0])  # the 90 s entry is written; 30 s and 5 s are unread
    lag = await hp.sink_lag(r)
    assert (lag.exists, lag.pending, lag.lag) == (True, 0, 2)
    assert lag.oldest_age_s is not None and 29.0 <= lag.oldest_age_s <= 33.0
    assert hp.sink_row(lag).status == hp.WARN  # between SINK_LAG_WARN_S and SINK_LAG_FAIL_S
    await deliver(r, bus.STORE, SINK_GROUP, 1)  # the 30 s entry is now pending (a stuck batch)
    lag = await hp.sink_lag(r)
    assert (lag.pending, lag.lag) == (1, 1) and lag.oldest_age_s is not None and lag.oldest_age_s >= 29.0
    await r.xack(bus.STORE, SINK_GROUP, ids[1])
    await deliver(r, bus.STORE, SINK_GROUP, 1)
    await r.xack(bus.STORE, SINK_GROUP, ids[2])
    row = hp.sink_row(await hp.sink_lag(r))
    assert (row.status, row.value) == (hp.OK, "无积压")


@pytest.mark.asyncio
async def test_an_old_sink_backlog_is_a_fault(r: aioredis.Redis) -> None:
    await fill(r, bus.STORE, [hp.SINK_LAG_FAIL_S + 30])
    await r.xgroup_create(bus.STORE, SINK_GROUP, id="0")
    assert hp.sink_row(await hp.sink_lag(r)).status == hp.FAIL


@pytest.mark.asyncio
async def test_dead_letters_are_counted_and_a_recent_one_needs_a_look(r: aioredis.Redis) -> None:
    assert (await hp.dead_row(r)).value == "0 条"
    now = int(time.time() * 1000)
    await r.xadd(bus.DEAD, {b"stream": b"tele.beehive.0", b"error": b"bad"}, id=f"{now - 2 * 3_600_000}-0")
    old = await hp.dead_row(r)
    assert (old.status, old.value) == (hp.OK, "1 条")
    await r.xadd(bus.DEAD, {b"stream": b"store", b"error": b"rejected by ClickHouse"})
    new = await hp.dead_row(r)
    assert (new.status, new.value) == (hp.WARN, "2 条")
    assert "store" in new.detail and "rejected by ClickHouse" in new.detail


# --- Redis, live state, Serve and the whole collection --------------------------------------------------------------


@pytest.mark.asyncio
async def test_redis_rows_report_ping_memory_and_aof(r: aioredis.Redis) -> None:
    rows = {row.name: row for row in await hp.redis_rows(r)}
    assert rows["连接"].status == hp.OK and rows["连接"].value.startswith("PING ")
    assert rows["内存"].value  # used_memory_human, e.g. 1.02M
    assert (rows["AOF 持久化"].status, rows["AOF 持久化"].value) == (hp.OK, "已开启")  # the test server runs with AOF


@pytest.mark.asyncio
async def test_live_state_freshness_follows_the_last_twin_read(redis_url: str) -> None:
    ctx = OpsContext(Settings(), aioredis.from_url(redis_url), _no_query)
    live = LiveState(ctx)
    assert hp.live_row(live).status == hp.FAIL  # never read
    await live.read_twins()
    assert hp.live_row(live).status == hp.OK
    now = asyncio.get_running_loop().time()
    assert hp.live_row(live, now=live.last_twin_read + hp.LIVE_STALE_WARN_S + 1).status == hp.WARN
    assert hp.live_row(live, now=live.last_twin_read + hp.LIVE_STALE_FAIL_S + 1).status == hp.FAIL
    live.errors = 3
    assert "累计读取失败 3 次" in hp.live_row(live, now=now).detail
    await ctx.redis.aclose()


@pytest.mark.asyncio
async def test_serve_is_shown_as_not_enabled_when_it_does_not_run() -> None:
    rows = await hp.serve_rows()
    assert [(row.status, row.value) for row in rows] == [(hp.OFF, "未启用")]


@pytest.mark.asyncio
async def test_collect_keeps_going_when_redis_is_unreachable() -> None:
    dead = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    ctx = SimpleNamespace(redis=dead, settings=Settings(), probes={"ingest": FakeProbe("ok")}, live=None)
    rows = await hp.collect(ctx)
    by = {(row.group, row.name): row for row in rows}
    assert by[("Redis", "连接")].status == hp.FAIL
    assert by[("存储", "写入延迟(sink)")].status == hp.FAIL  # its check failed on its own
    assert by[("Ray 组件", "ingest")].status == hp.OK  # the other checks still ran
    assert by[("实时状态", "设备与事件")].status == hp.OFF
    assert hp.worst(rows) == hp.FAIL
    await dead.aclose()


def test_the_page_patches_only_changed_cells_and_replaces_rows_when_they_change() -> None:
    view = HealthView(SimpleNamespace())  # type: ignore[arg-type]  # show() needs no session
    rows = [
        hp.HealthRow("Redis", "连接", hp.OK, "PING 1.0 毫秒"),
        hp.HealthRow("存储", "写入延迟(sink)", hp.OK, "无积压"),
    ]
    view.show(rows)
    assert view.source.data["status"] == [hp.OK, hp.OK] and "全部正常" in view.summary
    view.show([rows[0], hp.HealthRow("存储", "写入延迟(sink)", hp.FAIL, "最旧 90.0 秒")])
    assert list(view.source.data["status"]) == [hp.OK, hp.FAIL]
    assert list(view.source.data["color"]) == [hp.STATUS_COLOR[hp.OK], hp.STATUS_COLOR[hp.FAIL]]
    assert "1 项故障" in view.summary
    view.show(rows[:1])
    assert list(view.source.data["name"]) == ["连接"]


@pytest.mark.asyncio
async def test_a_slow_read_is_not_started_twice_and_its_result_is_drawn() -> None:
    release, calls, drawn = asyncio.Event(), [], []

    async def load() -> int:
        calls.append(1)
        await release.wait()
        return 42

    loader = Loader(load, drawn.append)
    loader.start()
    await asyncio.sleep(0)
    loader.start()  # still reading: not started again
    release.set()
    assert loader.task is not None
    await loader.task
    assert (len(calls), drawn) == (1, [42])


async def _no_query(sql: str) -> list[dict[str, Any]]:
    return []
