"""Responder page and photo upload over real HTTP: the Chinese page is served with a strict CSP, uploads need a
token and stay under the size limit, an uploaded photo can back a resolve action; the token CLI prints a token once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from adapters.push.service import PushService, start_push
from adapters.push.store import COMMANDS, DISPATCH
from adapters.push.tokens import TOKEN, add_token, token_hash, user_for
from core.incidents import Dispatch, TicketCommand
from core.settings import BusSettings, PushSettings

ORIGIN = "http://responder.test"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
LIMIT = 4096


@pytest_asyncio.fixture
async def service(redis_url: str, tmp_path: Path) -> AsyncIterator[PushService]:
    settings = PushSettings(
        port=0, page_port=0, allowed_origins=[ORIGIN], var_dir=tmp_path / "var", max_photo_bytes=LIMIT
    )
    svc = await start_push(settings, redis_url, bus=BusSettings(block_ms=50))
    yield svc
    await svc.stop()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def base(service: PushService) -> str:
    return f"http://127.0.0.1:{service.page_port}"


async def upload(
    http: aiohttp.ClientSession, service: PushService, data: bytes, token: str | None, field: str = "photo"
) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field(field, data, filename="x.jpg", content_type="image/jpeg")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(base(service) + "/responder/photo", data=form, headers=headers) as resp:
        return resp.status, await resp.json()


@pytest.mark.asyncio
async def test_responder_page_is_served_with_chinese_buttons(service: PushService, http: aiohttp.ClientSession) -> None:
    async with http.get(base(service) + "/responder") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        html = await resp.text()
        csp = resp.headers["Content-Security-Policy"]
    for label in ("接单", "到场", "办结"):
        assert label in html
    assert 'lang="zh-CN"' in html and "/responder/photo" in html and "textContent" in html
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html and "document.write" not in html
    assert "'sha256-" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    async with http.get(base(service) + "/responder/config") as resp:
        cfg = await resp.json()
    assert cfg["push_port"] == service.port and cfg["max_photo_bytes"] == LIMIT


@pytest.mark.asyncio
async def test_photo_upload_needs_a_token(service: PushService, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    assert (await upload(http, service, JPEG, None))[0] == 401
    assert (await upload(http, service, JPEG, "not-a-token"))[0] == 401
    assert not (tmp_path / "var" / "photos").exists() or not any((tmp_path / "var" / "photos").iterdir())


@pytest.mark.asyncio
async def test_photo_upload_enforces_size_and_type(
    service: PushService, http: aiohttp.ClientSession, r: aioredis.Redis, tmp_path: Path
) -> None:
    token = await add_token(r, "u1")
    status, body = await upload(http, service, JPEG + b"\x00" * LIMIT, token)
    assert status == 413 and "photo" in body["error"]
    assert (await upload(http, service, b"<html>not an image</html>", token))[0] == 415
    assert (await upload(http, service, JPEG, token, field="other"))[0] == 400
    status, body = await upload(http, service, JPEG, token)
    assert status == 201
    path = Path(body["path"])
    assert path.parent == tmp_path / "var" / "photos" and path.suffix == ".jpg" and path.name != "x.jpg"
    assert path.read_bytes() == JPEG
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # refused uploads left nothing behind


@pytest.mark.asyncio
async def test_uploaded_photo_backs_a_resolve_action(
    service: PushService, http: aiohttp.ClientSession, r: aioredis.Redis
) -> None:
    token = await add_token(r, "u1")
    d = Dispatch(dispatch_id="d1", ticket_id="T-7", recipient="u1", role="responder", title="道路塌方", severity=1,
                 ts=int(time.time() * 1000))  # fmt: skip
    await r.xadd(DISPATCH, {b"d": msgspec.msgpack.encode(d)})
    status, body = await upload(http, service, JPEG, token)
    assert status == 201
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(f"ws://127.0.0.1:{service.port}/push", additional_headers=headers, origin=ORIGIN) as ws:  # type: ignore[arg-type]
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["dispatch_id"] == "d1"
        action = {"type": "action", "ticket_id": "T-7", "action": "resolve", "note": "<script>x</script>已清理",
                  "photo": body["path"], "key": "resolve-1"}  # fmt: skip
        await ws.send(json.dumps(action))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "accepted"
    [(_, fields)] = await r.xrange(COMMANDS)
    cmd = msgspec.msgpack.decode(fields[b"c"], type=TicketCommand)
    assert (cmd.action, cmd.actor, cmd.photo, cmd.note) == ("resolve", "u1", body["path"], "<script>x</script>已清理")


def test_tokens_cli_prints_a_new_token_once(redis_url: str) -> None:
    env = {**os.environ, "REDIS_URL": redis_url}
    out = subprocess.run(
        [sys.executable, "-m", "adapters.push.tokens", "add", "responder-7"],
        capture_output=True, text=True, env=env, check=True, timeout=60,
    )  # fmt: skip
    token = out.stdout.strip()
    assert len(token) >= 32 and "\n" not in token and token not in out.stderr

    async def check() -> tuple[str | None, list[bytes], int]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            keys = [k async for k in client.scan_iter("push:token:*")]
            return await user_for(client, token), keys, await client.ttl(TOKEN + token_hash(token))
        finally:
            await client.aclose()

    user, keys, ttl = asyncio.run(check())
    assert user == "responder-7" and keys == [(TOKEN + token_hash(token)).encode()]  # only the hash is kept
    assert 0 < ttl <= PushSettings().token_ttl_s  # it expires


async def _evidence(http: aiohttp.ClientSession, service: PushService, token: str, ticket: str) -> int:
    auth = {"Authorization": f"Bearer {token}"}
    async with http.get(base(service) + "/responder/evidence", params={"ticket": ticket}, headers=auth) as resp:
        return resp.status


@pytest.mark.asyncio
async def test_evidence_is_served_only_for_tickets_currently_dispatched_to_the_user(
    service: PushService, http: aiohttp.ClientSession, r: aioredis.Redis, tmp_path: Path
) -> None:
    snap = tmp_path / "var" / "snapshots" / "cam-1" / "cam-1_fire_1.jpg"
    snap.parent.mkdir(parents=True)
    snap.write_bytes(JPEG)
    (tmp_path / "var" / "secret.jpg").write_bytes(JPEG)
    mine, other = await add_token(r, "officer-a"), await add_token(r, "resp-b")
    now = int(time.time() * 1000)

    def d(n: int, ticket: str, user: str, path: str, role: str = "responder") -> Dispatch:
        return Dispatch(dispatch_id=f"d{n}", ticket_id=ticket, recipient=user, role=role, title="火情", severity=1,
                        ts=now + n, detail={"snapshot": path})  # fmt: skip

    for x in (d(1, "T-1", "officer-a", "snapshots/cam-1/cam-1_fire_1.jpg"), d(2, "T-2", "officer-a", "secret.jpg"),
              d(3, "T-3", "officer-a", "snapshots/../secret.jpg")):  # fmt: skip
        await r.xadd(DISPATCH, {b"d": msgspec.msgpack.encode(x)})
    url = base(service) + "/responder/evidence"
    async with http.get(url, params={"ticket": "T-1"}) as resp:
        assert resp.status == 401
    for _ in range(100):
        if await _evidence(http, service, mine, "T-1") == 200:
            break
        await asyncio.sleep(0.05)
    async with http.get(url, params={"ticket": "T-1"}, headers={"Authorization": f"Bearer {mine}"}) as resp:
        assert resp.status == 200 and resp.content_type == "image/jpeg" and await resp.read() == JPEG
        assert resp.headers["Cache-Control"] == "no-store"
    assert await _evidence(http, service, other, "T-1") == 404  # another responder's ticket
    for ticket in ("T-2", "T-3", "T-none", "x" * 300):  # outside snapshots/, unknown, oversized
        assert await _evidence(http, service, mine, ticket) == 404, ticket
    await r.xadd(DISPATCH, {b"d": msgspec.msgpack.encode(d(4, "T-1", "resp-b", "snapshots/cam-1/cam-1_fire_1.jpg"))})
    for _ in range(100):
        if await _evidence(http, service, other, "T-1") == 200:
            break
        await asyncio.sleep(0.05)
    assert await _evidence(http, service, other, "T-1") == 200  # re-dispatched to resp-b
    assert await _evidence(http, service, mine, "T-1") == 404  # the past recipient no longer sees it
