"""The workflow host's streams: commands (who asks, what) in, each command's outcome out by its idempotency key."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis

from core.access import User
from workflows.engine import Command

WF_COMMANDS = "wf.commands"  # (User, Command) pairs, msgpack, field `c`; their HMAC-SHA256 in field `s`
WF_RESULTS = "wf.results"  # fields `key` and `result` (the Applied outcome as JSON), append-only
RESULT_KEY = "wf.result:"  # + command key: a short-lived list holding the outcome, for `wait_result`
RESULT_TTL_S = 600  # how long an outcome waits there for its sender

_ENC = msgspec.msgpack.Encoder(decimal_format="string")
_DEC = msgspec.msgpack.Decoder(tuple[User, Command])


class Forged(ValueError):
    """A command entry without a valid signature: not written by a process that holds the records key."""


def command_key(master: bytes) -> bytes:
    """The key that signs command entries, derived from the records master secret (the host and senders hold it)."""
    return hmac.new(master, b"zhouqu/workflows/commands", hashlib.sha256).digest()


def encode(user: User, cmd: Command, key: bytes) -> dict[bytes, bytes]:
    """The stream fields of a command and the account that asks for it, signed: who may ask is not the entry's say."""
    payload = _ENC.encode((user, cmd))
    return {b"c": payload, b"s": hmac.new(key, payload, hashlib.sha256).hexdigest().encode()}


def decode(fields: dict[bytes, Any], key: bytes) -> tuple[User, Command]:
    """The account and the command of a signed entry; Forged for a missing or wrong signature, msgspec.DecodeError
    or ValidationError when it is malformed, KeyError when it has no payload."""
    payload = fields[b"c"]
    expected = hmac.new(key, payload, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(expected, fields.get(b"s", b"")):
        raise Forged("command signature missing or wrong")
    return _DEC.decode(payload)


async def send(redis: aioredis.Redis, user: User, cmd: Command, key: bytes) -> None:
    """Queue a signed command for the workflow host (its key makes a resend apply once)."""
    await redis.xadd(WF_COMMANDS, encode(user, cmd, key))  # type: ignore[arg-type]


async def wait_result(redis: aioredis.Redis, key: str, timeout_s: float) -> dict[str, Any] | None:
    """The outcome of the command with this key (the host's Applied as a dict), or None when none came in time.

    Each outcome the host writes is taken by one waiter: send a command once per waiter."""
    got = cast(tuple[bytes, bytes] | None, await redis.blpop([RESULT_KEY + key], timeout=max(timeout_s, 0.01)))
    if got is None:
        return None
    out: dict[str, Any] = json.loads(got[1])
    return out
