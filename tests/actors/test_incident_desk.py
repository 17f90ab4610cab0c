"""The incident desk on a real Redis (no Ray): reports, live rule reload, restarts without double transitions."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis

from actors.incident_desk import TICKETS, IncidentDesk
from adapters.bus import DISPATCH, EVENTS, INCIDENTS, RESULTS
from adapters.reports import submit_report
from adapters.rosters import COUNTY_DUTY, OFFICERS, TOWNSHIP_DUTY
from core.events import DeviceEvent
from core.incidents import Dispatch, TicketEvent
from core.settings import Settings
from rules.loader import DEFAULT_DIR

NOW = 1_790_000_000_000


def sos(device: str, ts: int) -> DeviceEvent:
    return DeviceEvent(event_id=f"{device}:sos:{ts}", type="sos", kind="wristband", device_id=device, ts=ts,
                       seq=1, village="杰迪村", lat=33.8, lon=104.25)  # fmt: skip


async def history(r: aioredis.Redis) -> list[TicketEvent]:
    return [msgspec.msgpack.decode(f[b"t"], type=TicketEvent) for _, f in await r.xrange(INCIDENTS)]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(DEFAULT_DIR, target)
    return target


@pytest.mark.asyncio
async def test_citizen_report_opens_a_ticket_at_reported_with_text_verbatim(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    desk = IncidentDesk(r, Settings(), clock=lambda: NOW)
    await desk.start()
    text = "村口路灯坏了 <script>alert(1)</script>"
    tid = await submit_report(r, text=text, village="杰迪村", category="基础设施", reporter="citizen-7")
    await desk.round()
    [opened] = [e for e in await history(r) if e.ticket_id == tid]
    assert opened.action == "open"
    assert opened.to_state == "上报"
    assert desk.tickets[tid].state.incident.detail["text"] == text
    assert (await r.xrange(RESULTS))[-1][1][b"ok"] == b"1"
    await r.aclose()


@pytest.mark.asyncio
async def test_rule_edits_apply_live_and_a_broken_edit_keeps_the_running_rules(
    redis_url: str, rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("actors.incident_desk.RULES_CHECK_S", 0.0)  # look at the files on every round
    r = aioredis.Redis.from_url(redis_url)
    desk = IncidentDesk(r, Settings(rules_dir=rules_dir), clock=lambda: NOW)
    await desk.start()
    elderly = rules_dir / "elderly.yaml"
    edited = elderly.read_text(encoding="utf-8").replace("老人紧急呼救(SOS)", "紧急呼救-已修改")
    elderly.write_text(edited, encoding="utf-8")
    await desk.round()
    assert desk.ruleset.rule("wristband.sos").title == "紧急呼救-已修改"
    (rules_dir / "broken.yaml").write_text("rules:\n  - id: x\n    sevrity: 9\n", encoding="utf-8")
    await desk.round()
    assert desk.ruleset.rule("wristband.sos").title == "紧急呼救-已修改"  # still running the last good set
    await r.aclose()


@pytest.mark.asyncio
async def test_a_restarted_desk_replays_pending_events_without_applying_a_transition_twice(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    desk = IncidentDesk(r, Settings(), clock=lambda: NOW)
    await desk.start()
    await r.xadd(EVENTS, {b"e": msgspec.msgpack.encode(sos("wb-1", NOW))})
    await desk.round()
    first = await history(r)
    # crash after reading the next batch but before committing it: it stays pending
    await r.xadd(EVENTS, {b"e": msgspec.msgpack.encode(sos("wb-2", NOW + 1))})
    await desk.events.read(block_ms=0)
    restarted = IncidentDesk(r, Settings(), clock=lambda: NOW + 10)
    await restarted.start()
    await restarted.round()
    await restarted.round()
    after = await history(r)
    assert after[: len(first)] == first
    per_ticket = [(e.ticket_id, e.seq) for e in after]
    assert len(per_ticket) == len(set(per_ticket))  # no transition twice
    assert {e.ticket_id.split(":")[1] for e in after} == {"wb-1", "wb-2"}
    assert await r.hlen(TICKETS) == 2
    await r.aclose()


@pytest.mark.asyncio
async def test_unacknowledged_ticket_escalates_to_village_township_then_county_phones(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    await r.hset(OFFICERS, "杰迪村", "officer-a")
    await r.hset(TOWNSHIP_DUTY, "立节镇", "duty-lj")
    await r.hset(COUNTY_DUTY, "duty", "county-1")
    clock = [NOW]
    desk = IncidentDesk(r, Settings(), clock=lambda: clock[0])
    await desk.start()
    theft = DeviceEvent(event_id="hive-1:theft:1", type="theft", kind="beehive", device_id="hive-1", ts=NOW,
                        seq=1, village="杰迪村", detail={"cause": "weight"})  # fmt: skip
    await r.xadd(EVENTS, {b"e": msgspec.msgpack.encode(theft)})
    for minute in (0, 1, 2, 4, 6, 11, 16, 31, 61, 121, 181, 239):  # past every level of any policy
        clock[0] = NOW + minute * 60_000
        await desk.round()
    pushes = [msgspec.msgpack.decode(f[b"d"], type=Dispatch) for _, f in await r.xrange(DISPATCH)]
    escalated = [d.recipient for d in pushes if d.role == "escalation"]
    assert escalated == ["officer-a", "duty-lj", "county-1"]
    await r.aclose()
