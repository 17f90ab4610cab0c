"""Open311 GeoReport v2 on the citizen service: third-party apps file 民事直说 reports and follow their tickets.

Filing goes through `adapters.reports.submit_report`, the same path as the H5 report form, so the incident desk
opens the ticket. Each accepted request is also remembered in the Redis hash `open311:requests` (id -> JSON) with a
time index (sorted set `open311:requested`) so GET can list it.

Ticket state: the incident desk keeps a msgpack snapshot of every live ticket in the Redis hash `tickets` (the
TicketActor state, a msgspec Struct encoded as a map). This layer may not import actors, so `_Snapshot` below
decodes only the few fields needed (msgspec ignores the rest). That is the simplest robust path: one HMGET, no
ClickHouse dependency. The desk drops closed tickets from that hash after `bus.closed_ticket_keep_s`, so whatever
state was last seen is written back into the request's own record and outlives the snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from aiohttp import web
from redis.typing import EncodableT, FieldT

from adapters.citizen.context import CitizenContext
from adapters.citizen.open311_format import Format, error, respond
from adapters.reports import submit_report
from core.clock import BEIJING
from core.events import now_ms
from core.geo import distance_m
from core.personal import phone_problem

log = logging.getLogger(__name__)

REQUESTS = "open311:requests"  # service_request_id -> JSON record
REQUESTED = "open311:requested"  # sorted set: service_request_id scored by requested time (ms)
TICKETS = "tickets"  # the incident desk's ticket snapshots (actors/incident_desk.py TICKETS)
TERMINAL = frozenset({"合并", "关闭"})  # the ticket states that end a ticket (actors/ticket_routing.py TERMINAL)
PENDING_NOTE = "已受理"  # filed, but the desk has not opened the ticket yet
DEFAULT_WINDOW_MS = 90 * 86_400_000
MAX_RESULTS = 1000
MAX_DESCRIPTION = 2000
PREFIX = "/open311/v2"


@dataclass(frozen=True)
class Service:
    """One Open311 service: a category of citizen report (民事直说)."""

    code: str
    name: str
    description: str
    category: str  # the incident category the desk routes by (rules/default/policies.yaml departments)
    group: str
    keywords: tuple[str, ...]
    agency: str  # shown while the ticket carries no department yet


# The one declared list of Open311 services; categories match the rule categories so the desk finds a department.
SERVICES: tuple[Service, ...] = (
    Service("infrastructure", "基础设施报修", "道路、桥梁、路灯、供水等设施损坏", "基础设施", "基础设施",
            ("道路", "桥梁", "路灯", "供水"), "乡镇人民政府"),
    Service("environment", "环境卫生", "垃圾堆放、污水、河道脏乱等", "环境卫生", "人居环境",
            ("垃圾", "污水", "河道"), "县住房和城乡建设局/乡镇环卫站"),
    Service("emergency", "灾害隐患", "滑坡、泥石流、落石、塌方等地质灾害隐患", "应急管理", "安全应急",
            ("滑坡", "泥石流", "塌方"), "县应急管理局/乡镇应急管理办公室"),
    Service("fire", "消防安全", "火情、消防通道堵塞、用火隐患", "消防安全", "安全应急",
            ("火情", "消防"), "县消防救援大队/乡镇应急管理办公室"),
    Service("traffic", "交通安全", "交通事故、道路安全隐患、违停", "交通安全", "安全应急",
            ("交通", "事故", "违停"), "县公安局交通警察大队/乡镇交通管理站"),
    Service("security", "治安防范", "治安问题、可疑情况", "治安防范", "平安乡村",
            ("治安", "可疑"), "县公安局/乡镇派出所"),
    Service("power", "电力保障", "停电、线路损坏、电力设施隐患", "电力保障", "基础设施",
            ("停电", "线路"), "国网舟曲县供电公司/乡镇供电所"),
    Service("elderly", "养老服务", "独居老人、留守老人需要帮助", "养老服务", "民生服务",
            ("老人", "养老"), "县民政局/乡镇民政办"),
    Service("health", "医疗健康", "就医困难、突发疾病、公共卫生问题", "医疗健康", "民生服务",
            ("就医", "卫生"), "县卫生健康局/乡镇卫生院"),
)  # fmt: skip
BY_CODE = {s.code: s for s in SERVICES}


class _Incident(msgspec.Struct):
    department: str = ""


class _Snapshot(msgspec.Struct):
    """The fields of a TicketActor snapshot (actors/ticket.py TicketState) that Open311 shows."""

    state: str
    entered: int
    incident: _Incident = msgspec.field(default_factory=_Incident)


_SNAPSHOT = msgspec.msgpack.Decoder(_Snapshot)


class BadRequest(Exception):
    """A request the spec's error format answers; nothing was stored."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def iso(ms: int) -> str:
    """ISO 8601 Beijing time with its offset, to the second."""
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).isoformat(timespec="seconds")


def parse_date(name: str, raw: str) -> int:
    """An ISO 8601 timestamp with a time zone, in ms; BadRequest otherwise."""
    try:
        when = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise BadRequest(400, f"{name} 不是合法的 ISO 8601 时间：{raw[:40]}") from None
    if when.tzinfo is None:
        raise BadRequest(400, f"{name} 须带时区，例如 2026-05-01T08:00:00+08:00") from None
    return int(when.timestamp() * 1000)


def service_json(s: Service) -> dict[str, Any]:
    """One service in the spec's service-list structure."""
    return {"service_code": s.code, "service_name": s.name, "description": s.description, "metadata": False,
            "type": "realtime", "keywords": ", ".join(s.keywords), "group": s.group}  # fmt: skip


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(400, f"{name} 须为数字") from None
    if not math.isfinite(value):
        raise BadRequest(400, f"{name} 须为有限数字")
    return value


def _nearest_village(ctx: CitizenContext, lat: float, lon: float) -> str:
    gaz = ctx.ledgers.gazetteer
    return min(gaz.villages, key=lambda v: distance_m(lat, lon, v.lat, v.lon)).name


def _village_in(ctx: CitizenContext, address: str) -> str:
    """The gazetteer village named in an address (longest name first); BadRequest when none is."""
    names = sorted({v.name for v in ctx.ledgers.gazetteer.villages}, key=len, reverse=True)
    for name in names:
        if name in address:
            return name
    raise BadRequest(400, "地址中没有本县的村名，请提供 lat/long 坐标或写明村名")


async def _form(request: web.Request) -> dict[str, str]:
    """The POST parameters: form-encoded (the spec) or a JSON object; BadRequest when unreadable."""
    try:
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("not an object")
            return {str(k): "" if v is None else str(v) for k, v in body.items()}
        form = await request.post()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, "请求体无法解析") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _app_for(ctx: CitizenContext, key: str) -> str:
    app = ctx.settings.workflows.open311_keys.get(key) if key else None
    if not app:
        raise BadRequest(403, "缺少或无效的 api_key")
    return app


async def _file(ctx: CitizenContext, p: dict[str, str]) -> dict[str, Any]:
    """Validate a POST, file the report and remember the request; BadRequest (nothing stored) otherwise."""
    app = _app_for(ctx, p.get("api_key", "").strip())
    code = p.get("service_code", "").strip()
    if not code:
        raise BadRequest(400, "缺少 service_code")
    service = BY_CODE.get(code)
    if service is None:
        raise BadRequest(400, f"未知的服务类型：{code[:40]}")
    description = p.get("description", "").strip()
    if not description:
        raise BadRequest(400, "缺少问题描述 description")
    if len(description) > MAX_DESCRIPTION:
        raise BadRequest(400, f"问题描述不能超过 {MAX_DESCRIPTION} 字")
    phone = p.get("phone", "").strip()
    problem = phone_problem(phone) if phone else None
    if problem:
        raise BadRequest(400, problem)
    address = p.get("address_string", "").strip()[:200]
    raw_lat, raw_lon = p.get("lat", "").strip(), p.get("long", "").strip()
    lat = lon = None
    if raw_lat or raw_lon:
        if not (raw_lat and raw_lon):
            raise BadRequest(400, "lat 与 long 须同时提供")
        lat, lon = _float("lat", raw_lat), _float("long", raw_lon)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not ctx.ledgers.gazetteer.contains(lat, lon):
            raise BadRequest(400, "该位置不在舟曲县境内")
        village = _nearest_village(ctx, lat, lon)
    elif address:
        village = _village_in(ctx, address)
    else:
        raise BadRequest(400, "须提供位置：lat/long 坐标或 address_string 地址")
    now = now_ms()
    ticket = await submit_report(ctx.redis, text=description, village=village, category=service.category,
                                 reporter=f"open311:{app}", source="citizen", lat=lat, lon=lon)  # fmt: skip
    record = {"service_code": code, "requested_datetime": now, "address": address or village, "lat": lat,
              "long": lon, "description": description, "village": village, "app": app}  # fmt: skip
    async with ctx.redis.pipeline(transaction=True) as pipe:
        pipe.hset(REQUESTS, ticket, json.dumps(record, ensure_ascii=False))
        pipe.zadd(REQUESTED, {ticket: now})
        await pipe.execute()
    log.info("open311 request %s filed by %s (%s, %s)", ticket, app, code, village)  # no phone, no name
    return {"service_request_id": ticket, "service_notice": "已受理，工单将转交责任部门处理", "account_id": None}


async def _records(ctx: CitizenContext, ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The stored requests of those ids (unknown ones left out), with the ticket state merged in."""
    if not ids:
        return []
    raw = cast(list[bytes | None], await ctx.redis.hmget(REQUESTS, ids))
    snaps = cast(list[bytes | None], await ctx.redis.hmget(TICKETS, ids))
    found: list[tuple[str, dict[str, Any]]] = []
    changed: dict[FieldT, EncodableT] = {}
    for rid, blob, snap in zip(ids, raw, snaps, strict=True):
        if blob is None:
            continue
        rec = json.loads(blob)
        if snap is not None:
            try:
                s = _SNAPSHOT.decode(snap)
            except msgspec.DecodeError:
                log.warning("open311: undecodable ticket snapshot %s", rid)
            else:
                seen = {"state": s.state, "updated": s.entered, "department": s.incident.department}
                if any(rec.get(k) != v for k, v in seen.items()):
                    rec.update(seen)
                    changed[rid] = json.dumps(rec, ensure_ascii=False)
        found.append((rid, rec))
    if changed:
        await ctx.redis.hset(REQUESTS, mapping=changed)  # remember the state after the desk drops the snapshot
    return found


def request_json(rid: str, rec: dict[str, Any]) -> dict[str, Any]:
    """One stored request in the spec's service-request structure."""
    service = BY_CODE.get(rec["service_code"])
    state = rec.get("state", "")
    return {
        "service_request_id": rid, "status": "closed" if state in TERMINAL else "open",
        "status_notes": state or PENDING_NOTE, "service_name": service.name if service else rec["service_code"],
        "service_code": rec["service_code"], "description": rec["description"],
        "agency_responsible": rec.get("department") or (service.agency if service else ""),
        "service_notice": "", "requested_datetime": iso(rec["requested_datetime"]),
        "updated_datetime": iso(max(rec.get("updated", 0), rec["requested_datetime"])),
        "expected_datetime": None, "address": rec["address"], "address_id": None, "zipcode": None,
        "lat": rec["lat"], "long": rec["long"], "media_url": None,
    }  # fmt: skip


def _split(raw: str) -> list[str]:
    return [x.strip() for x in raw.split(",") if x.strip()]


async def _search(ctx: CitizenContext, q: Any) -> list[dict[str, Any]]:
    """GET /requests: by ids, or by service_code, status and dates (a 90-day window by default); newest first."""
    ids = _split(q.get("service_request_id", ""))
    if ids:
        return [request_json(rid, rec) for rid, rec in await _records(ctx, ids[:MAX_RESULTS])]
    codes = set(_split(q.get("service_code", "")))
    statuses = set(_split(q.get("status", "")))
    if statuses - {"open", "closed"}:
        raise BadRequest(400, "status 只能是 open 或 closed")
    start = parse_date("start_date", q["start_date"]) if q.get("start_date") else None
    if q.get("end_date"):
        end = parse_date("end_date", q["end_date"])
    else:
        end = now_ms() if start is None else start + DEFAULT_WINDOW_MS
    start = end - DEFAULT_WINDOW_MS if start is None else start
    if start > end:
        raise BadRequest(400, "start_date 不能晚于 end_date")
    members = cast(list[bytes], await ctx.redis.zrevrangebyscore(REQUESTED, end, start))
    out = []
    for rid, rec in await _records(ctx, [m.decode() for m in members]):
        item = request_json(rid, rec)
        if (not codes or item["service_code"] in codes) and (not statuses or item["status"] in statuses):
            out.append(item)
            if len(out) >= MAX_RESULTS:
                break
    return out


def routes(ctx: CitizenContext) -> list[web.RouteDef]:
    """The GeoReport v2 routes (services, service definitions, requests) in .json and .xml."""

    def fmt(request: web.Request) -> Format:
        return "xml" if request.match_info["fmt"] == "xml" else "json"

    async def services(request: web.Request) -> web.Response:
        return respond(fmt(request), "services", [service_json(s) for s in SERVICES])

    async def definition(request: web.Request) -> web.Response:
        code = request.match_info["code"]
        if code not in BY_CODE:
            return error(fmt(request), 404, f"未知的服务类型：{code[:40]}")
        return respond(fmt(request), "service_definition", {"service_code": code, "attributes": []})

    async def post_request(request: web.Request) -> web.Response:
        try:
            made = await _file(ctx, await _form(request))
        except BadRequest as exc:
            return error(fmt(request), exc.code, exc.description)
        return respond(fmt(request), "service_requests", [made])

    async def list_requests(request: web.Request) -> web.Response:
        try:
            found = await _search(ctx, request.query)
        except BadRequest as exc:
            return error(fmt(request), exc.code, exc.description)
        return respond(fmt(request), "service_requests", found)

    async def one_request(request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        found = await _records(ctx, [rid])
        if not found:
            return error(fmt(request), 404, f"没有编号为 {rid[:60]} 的请求")
        return respond(fmt(request), "service_requests", [request_json(*found[0])])

    suffix = ".{fmt:json|xml}"
    return [
        web.get(f"{PREFIX}/services{suffix}", services),
        web.get(f"{PREFIX}/services/{{code:[^/]+?}}{suffix}", definition),
        web.post(f"{PREFIX}/requests{suffix}", post_request),
        web.get(f"{PREFIX}/requests{suffix}", list_requests),
        web.get(f"{PREFIX}/requests/{{rid:[^/]+?}}{suffix}", one_request),
    ]
