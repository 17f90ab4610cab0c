"""The platform's own redis-server: loopback only, one ACL user with a generated 0600 password, no anonymous access."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import redis

from adapters.redis_server import USER, RedisServer, own_url, redacted


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_anonymous_and_wrong_password_clients_are_refused(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    url = server.start()
    try:
        password = (tmp_path / "redis" / "password").read_text().strip()
        assert url == f"redis://{USER}:{password}@127.0.0.1:{server.port}/0" and len(password) >= 32
        anonymous = redis.Redis(host="127.0.0.1", port=server.port)
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            anonymous.set("k", "v")
        wrong = redis.Redis(host="127.0.0.1", port=server.port, username=USER, password="not-it")
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()
        default = redis.Redis(host="127.0.0.1", port=server.port, username="default", password="")
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            default.ping()
        client = redis.Redis.from_url(url)
        assert client.set("k", "v") and client.get("k") == b"v"
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        cmdline = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes() if server.proc else b""
        assert cmdline and password.encode() not in cmdline  # not visible in ps
        for c in (anonymous, wrong, default, client):
            c.close()
    finally:
        server.stop()


def test_the_password_is_private_kept_across_restarts_and_found_by_tools(tmp_path: Path) -> None:
    data = tmp_path / "redis"
    first = RedisServer(data)
    url = first.start()
    try:
        redis.Redis.from_url(url).set("kept", "1")
    finally:
        first.stop()
    assert mode(data) == 0o700
    for name in ("password", "url", "redis.conf"):
        assert mode(data / name) == 0o600, name
    second = RedisServer(data)
    again = second.start()
    try:
        assert again.split("@")[0] == url.split("@")[0]  # the same user and password
        assert redis.Redis.from_url(again).get("kept") == b"1"  # and the data (AOF) it protects
        assert own_url(data) == again
    finally:
        second.stop()
    assert own_url(tmp_path / "never-started") is None


def test_redacted_hides_only_the_password() -> None:
    assert redacted("redis://zhouqu:s3cret@127.0.0.1:7000/0") == "redis://zhouqu:***@127.0.0.1:7000/0"
    assert redacted("rediss://:s3cret@host:6380") == "rediss://:***@host:6380"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
