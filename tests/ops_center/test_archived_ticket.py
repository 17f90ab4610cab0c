"""A ticket closed long enough to have left the desk and the `tickets` hash is still shown, from its ClickHouse
history, to whoever may see it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from actors.incident_desk import ticket_row
from actors.ticket import TicketActor
from actors.ticket_routing import CLOSED
from adapters import bus
from adapters.telemetry import ChdbBackend, column_names, schema
from core.access import AccessDenied, User
from core.incidents import Incident, TicketCommand
from core.settings import Settings
from ops_center.commands import load_ticket
from ops_center.context import OpsContext
from ops_center.session import OpsSession

NOW = 1_790_000_000_000
LIJIE = User(username="lijie_op", name="立节镇值班员", level="township", duties=["operator"], township="立节镇")
FENGDIE = User(username="fd_op", name="峰迭镇值班员", level="township", duties=["operator"], township="峰迭镇")


def lived(tid: str, close: bool) -> TicketActor:
    inc = Incident(incident_id=tid, rule="wristband.sos", title="老人紧急呼救(SOS)", severity=1, category="养老服务",
                   department="民政", group_key="wb-1", village="杰迪村", township="立节镇", first_ts=NOW, last_ts=NOW,
                   device_id="wb-1")  # fmt: skip
    ticket, _ = TicketActor.open(inc, NOW)
    ticket.handle(TicketCommand(key="a", ticket_id=tid, action="accept", actor="op", ts=NOW + 1), NOW + 1)
    if close:
        ticket.handle(TicketCommand(key="c", ticket_id=tid, action="close", actor="op", ts=NOW + 2), NOW + 2)
    return ticket


@pytest.fixture(scope="module")
def chdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbBackend]:
    backend = ChdbBackend(Path(tmp_path_factory.mktemp("chdb")))
    for ddl in schema(3650):
        backend.command(ddl)
    rows = [ticket_row(e) for tid, close in (("T-closed", True), ("T-open", False)) for e in lived(tid, close).history]
    backend.insert_json_rows("ticket_events", column_names("ticket_events"), b"\n".join(rows), "tickets")
    yield backend
    backend.close()


@pytest_asyncio.fixture
async def ctx(redis_url: str, chdb: ChdbBackend) -> AsyncIterator[OpsContext]:
    async def query(sql: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(chdb.query, sql)

    context = OpsContext(Settings(), bus.connect(redis_url), query)
    yield context
    await context.redis.aclose()


@pytest.mark.asyncio
async def test_a_ticket_gone_from_the_hash_is_read_from_its_clickhouse_history_within_scope(ctx: OpsContext) -> None:
    ticket = await load_ticket(OpsSession(ctx, LIJIE, "s", "ip"), "T-closed")
    want = lived("T-closed", True)
    assert ticket.status == CLOSED and ticket.history == want.history
    inc = ticket.state.incident
    assert (inc.title, inc.village, inc.township, inc.severity) == ("老人紧急呼救(SOS)", "杰迪村", "立节镇", 1)
    assert inc.device_id == "wb-1"
    with pytest.raises(AccessDenied, match="不存在或不在您的管辖范围内"):
        await load_ticket(OpsSession(ctx, FENGDIE, "s", "ip"), "T-closed")  # another township: looks missing
    with pytest.raises(AccessDenied):
        await load_ticket(OpsSession(ctx, LIJIE, "s", "ip"), "T-open")  # unfinished: only the desk's word counts
