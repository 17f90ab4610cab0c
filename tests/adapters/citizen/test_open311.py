"""Open311 GeoReport v2: services, filing through the reports stream, listing with the desk's ticket state."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from ledger_testkit import KEY, open_store, sqlite_url

from actors.ticket import TicketActor
from adapters.citizen.context import CitizenContext
from adapters.citizen.open311 import REQUESTS, SERVICES, TICKETS, routes
from adapters.reports import REPORTS
from core.clock import BEIJING
from core.incidents import Incident, TicketCommand
from core.personal import Sealer
from core.settings import Settings
from workflows.loader import load_items
from workflows.store import open_workflows

API_KEY = "k-test-311"
V2 = "/open311/v2"


@pytest_asyncio.fixture
async def client(redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], aioredis.Redis]]:
    """A test client of an app with only the Open311 routes, on real Redis and a SQLite ledger store."""
    settings = Settings(workflows={"open311_keys": {API_KEY: "随手拍"}})
    ledgers, _ = open_store(sqlite_url(tmp_path))
    workflows = open_workflows(ledgers, Sealer(KEY), settings.workflows, load_items())
    r = aioredis.from_url(redis_url)
    ctx = CitizenContext(settings=settings, redis=r, ledgers=ledgers, workflows=workflows,
                         attachments_dir=tmp_path / "att", sms_path=tmp_path / "sms.jsonl")  # fmt: skip
    app = web.Application()
    app.add_routes(routes(ctx))
    async with TestClient(TestServer(app)) as c:
        yield c, r
    await r.aclose()
    ledgers.engine.dispose()


def _good(**over: str) -> dict[str, str]:
    body = {"api_key": API_KEY, "service_code": "infrastructure", "lat": "33.87", "long": "103.94",
            "description": "村口路灯不亮", "phone": "13909410001", "first_name": "三", "last_name": "张",
            "media_url": "http://example.invalid/a.jpg"}  # fmt: skip
    body.update(over)
    return {k: v for k, v in body.items() if v != "-"}


async def _reports(r: aioredis.Redis) -> list[Incident]:
    return [msgspec.msgpack.decode(f[b"i"], type=Incident) for _, f in await r.xrange(REPORTS)]


@pytest.mark.asyncio
async def test_services_follow_the_spec_in_json_and_xml(client: tuple[TestClient[Any, Any], aioredis.Redis]) -> None:
    c, _ = client
    resp = await c.get(f"{V2}/services.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    body = await resp.json()
    assert [s["service_code"] for s in body] == [s.code for s in SERVICES]
    first = body[0]
    assert set(first) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
    assert first["metadata"] is False and first["type"] == "realtime" and first["service_name"] == "基础设施报修"
    root = ET.fromstring(await (await c.get(f"{V2}/services.xml")).read())
    assert root.tag == "services" and len(root) == len(SERVICES)
    assert root[0].findtext("service_code") == "infrastructure" and root[0].findtext("metadata") == "false"
    definition = await (await c.get(f"{V2}/services/environment.json")).json()
    assert definition == {"service_code": "environment", "attributes": []}
    xml_def = ET.fromstring(await (await c.get(f"{V2}/services/environment.xml")).read())
    assert xml_def.tag == "service_definition" and xml_def.find("attributes") is not None
    missing = await c.get(f"{V2}/services/nope.json")
    assert missing.status == 404
    [err] = await missing.json()
    assert err["code"] == 404 and "未知" in err["description"]


@pytest.mark.asyncio
async def test_refused_posts_store_nothing(client: tuple[TestClient[Any, Any], aioredis.Redis]) -> None:
    c, r = client
    resp = await c.post(f"{V2}/requests.json", data=_good(api_key="-"))
    assert resp.status == 403
    assert (await resp.json())[0]["code"] == 403
    resp = await c.post(f"{V2}/requests.xml", data=_good(api_key="wrong"))
    root = ET.fromstring(await resp.read())
    assert resp.status == 403 and root.tag == "errors" and root.find("error/code").text == "403"  # type: ignore[union-attr]
    cases = [
        _good(lat="39.90", long="116.40"),  # Beijing: outside the county
        _good(lat="-", long="-"),  # no location at all
        _good(lat="-", long="-", address_string="北京市朝阳区"),  # an address naming no village of the county
        _good(lat="abc"),
        _good(lat="nan"),
        _good(long="-"),
        _good(service_code="nope"),
        _good(description="  "),
        _good(phone="12345"),
    ]
    for body in cases:
        resp = await c.post(f"{V2}/requests.json", data=body)
        [err] = await resp.json()
        assert resp.status == 400 and err["code"] == 400 and err["description"], body
    resp = await c.post(f"{V2}/requests.json", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert await r.xlen(REPORTS) == 0 and await r.hlen(REQUESTS) == 0


@pytest.mark.asyncio
async def test_a_good_post_files_a_report_and_lists_with_the_ticket_state(
    client: tuple[TestClient[Any, Any], aioredis.Redis],
) -> None:
    c, r = client
    resp = await c.post(f"{V2}/requests.json", data=_good())
    assert resp.status == 200
    [made] = await resp.json()
    assert made["account_id"] is None and made["service_notice"]
    rid = made["service_request_id"]
    [inc] = await _reports(r)
    assert inc.incident_id == rid and inc.category == "基础设施" and inc.village == "杰迪村"
    assert inc.source == "citizen" and inc.detail["reporter"] == "open311:随手拍" and inc.lat == 33.87
    assert "13909410001" not in json.dumps(inc.detail, ensure_ascii=False)
    assert b"13909410001" not in (await r.hget(REQUESTS, rid) or b"")  # the phone is never stored
    [one] = await (await c.get(f"{V2}/requests/{rid}.json")).json()
    assert one["status"] == "open" and one["status_notes"] == "已受理" and one["service_name"] == "基础设施报修"
    assert one["lat"] == 33.87 and one["long"] == 103.94 and one["requested_datetime"].endswith("+08:00")

    second = _good(service_code="environment", lat="-", long="-", address_string="立节镇杰迪村河边",
                   description="河道<垃圾>&堆积\x01")  # fmt: skip
    resp = await c.post(f"{V2}/requests.xml", data=second)
    root = ET.fromstring(await resp.read())
    rid2 = root.findtext("request/service_request_id")
    assert root.tag == "service_requests" and rid2 and root.find("request/account_id") is not None
    reports = await _reports(r)
    assert len(reports) == 2 and reports[1].village == "杰迪村" and reports[1].lat is None

    # the desk opens both tickets; the second one is closed
    now = reports[0].first_ts
    for incident, action in zip(reports, ["accept", "close"], strict=True):
        ticket, _ = TicketActor.open(incident, now)
        ticket.handle(TicketCommand(key=f"k-{action}", ticket_id=incident.incident_id, action=action,
                                    actor="op", ts=now + 1000, note="处理完毕"), now + 1000)  # fmt: skip
        await r.hset(TICKETS, incident.incident_id, ticket.snapshot())
    listed = await (await c.get(f"{V2}/requests.json")).json()
    assert {x["service_request_id"]: (x["status"], x["status_notes"]) for x in listed} == {
        rid: ("open", "受理"), rid2: ("closed", "关闭")}  # fmt: skip
    closed = await (await c.get(f"{V2}/requests.json", params={"status": "closed"})).json()
    assert [x["service_request_id"] for x in closed] == [rid2]
    assert closed[0]["description"] == "河道<垃圾>&堆积\x01" and closed[0]["agency_responsible"]
    by_code = await (await c.get(f"{V2}/requests.json", params={"service_code": "infrastructure"})).json()
    assert [x["service_request_id"] for x in by_code] == [rid]
    by_id = await (await c.get(f"{V2}/requests.json", params={"service_request_id": f"{rid2},nope"})).json()
    assert [x["service_request_id"] for x in by_id] == [rid2]

    # the desk drops closed tickets after a while; the state last seen stays
    await r.hdel(TICKETS, rid2)
    [again] = await (await c.get(f"{V2}/requests/{rid2}.json")).json()
    assert again["status"] == "closed"
    xml_list = ET.fromstring(await (await c.get(f"{V2}/requests.xml")).read())
    assert xml_list.tag == "service_requests" and len(xml_list.findall("request")) == 2
    assert "河道<垃圾>&堆积" in [e.findtext("description") for e in xml_list]  # escaped, control char dropped
    assert (await c.get(f"{V2}/requests/nope.json")).status == 404

    # dates: ISO 8601 with a time zone
    filed = dt.datetime.fromtimestamp(now / 1000, BEIJING)
    later = (filed + dt.timedelta(hours=1)).isoformat()
    earlier = (filed - dt.timedelta(days=1)).isoformat()
    assert await (await c.get(f"{V2}/requests.json", params={"start_date": later})).json() == []
    assert await (await c.get(f"{V2}/requests.json", params={"end_date": earlier})).json() == []
    both = await (await c.get(f"{V2}/requests.json", params={"start_date": earlier, "end_date": later})).json()
    assert len(both) == 2
    for bad in ({"start_date": "yesterday"}, {"end_date": "2026-05-01T08:00:00"}, {"status": "pending"},
                {"start_date": later, "end_date": earlier}):  # fmt: skip
        resp = await c.get(f"{V2}/requests.json", params=bad)
        assert resp.status == 400 and (await resp.json())[0]["code"] == 400, bad
