"""The workflow host's streams: commands (who asks, what) in, each command's outcome out by its idempotency key."""

from __future__ import annotations

import json
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis

from core.access import User
from workflows.engine import Command

WF_COMMANDS = "wf.commands"  # (User, Command) pairs, msgpack, field `c`
WF_RESULTS = "wf.results"  # fields `key` and `result` (the Applied outcome as JSON), append-only
RESULT_KEY = "wf.result:"  # + command key: a short-lived list holding the outcome, for `wait_result`
RESULT_TTL_S = 600  # how long an outcome waits there for its sender

_ENC = msgspec.msgpack.Encoder(decimal_format="string")
_DEC = msgspec.msgpack.Decoder(tuple[User, Command])


def encode(user: User, cmd: Command) -> bytes:
    """The stream payload of a command and the account that asks for it."""
    return _ENC.encode((user, cmd))


def decode(payload: bytes) -> tuple[User, Command]:
    """The account and the command of a payload; msgspec.DecodeError or ValidationError when it is malformed."""
    return _DEC.decode(payload)


async def send(redis: aioredis.Redis, user: User, cmd: Command) -> None:
    """Queue a command for the workflow host (its key makes a resend apply once)."""
    await redis.xadd(WF_COMMANDS, {b"c": encode(user, cmd)})


async def wait_result(redis: aioredis.Redis, key: str, timeout_s: float) -> dict[str, Any] | None:
    """The outcome of the command with this key (the host's Applied as a dict), or None when none came in time.

    Each outcome the host writes is taken by one waiter: send a command once per waiter."""
    got = cast(tuple[bytes, bytes] | None, await redis.blpop([RESULT_KEY + key], timeout=max(timeout_s, 0.01)))
    if got is None:
        return None
    out: dict[str, Any] = json.loads(got[1])
    return out
