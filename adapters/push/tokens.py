"""Responder tokens: `push:token:<SHA-256>` names the user and expires; the token itself is never stored.

A token is good while its key lives and its account (if the operations center has one) is not disabled.
Revoking a user's tokens also tells every push service, over pub/sub, to close that user's websockets.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import sys
from typing import cast

import msgspec
import redis.asyncio as aioredis

from core.settings import PushSettings, load_settings

TOKEN = "push:token:"  # + SHA-256 hex of a token -> user id; expires token_ttl_s after issue
USER_TOKENS = "push:user_tokens:"  # + user -> set of that user's token hashes; expires with its newest token
REVOKED = "push:revoked"  # pub/sub channel: user ids whose tokens were revoked (close their websockets)
ACCOUNTS = "ops:users"  # the operations center's accounts (username -> msgpack record with `disabled`)
MAX_TOKEN_CHARS = 256


class _Status(msgspec.Struct):
    """The one field of an account record the push service reads."""

    disabled: bool = False


_STATUS = msgspec.msgpack.Decoder(_Status)


def token_hash(token: str) -> str:
    """Hex SHA-256 of a token: what is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def account_enabled(redis: aioredis.Redis, user: str) -> bool:
    """False when the user's operations-center account is disabled (users without an account count as enabled)."""
    blob = await redis.hget(ACCOUNTS, user)
    return blob is None or not _STATUS.decode(cast(bytes, blob)).disabled


async def user_for_hash(redis: aioredis.Redis, hashed: str) -> str | None:
    """The user of a live token hash whose account is not disabled, else None."""
    user = await redis.get(TOKEN + hashed)
    if user is None:
        return None
    name = _text(user)
    return name if await account_enabled(redis, name) else None


async def user_for(redis: aioredis.Redis, token: str | None) -> str | None:
    """The user id a token belongs to, or None for a missing, oversized, unknown, expired or disabled one."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    return await user_for_hash(redis, token_hash(token))


async def add_token(redis: aioredis.Redis, user: str, ttl_s: int | None = None) -> str:
    """Create a random token for an enabled user, valid ttl_s (default push.token_ttl_s); returns it (shown once)."""
    if not user or len(user) > 128:
        raise ValueError("user id must be 1-128 characters")
    if not await account_enabled(redis, user):
        raise ValueError(f"account {user} is disabled")
    ttl = ttl_s or PushSettings().token_ttl_s
    token = secrets.token_urlsafe(32)
    hashed = token_hash(token)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(TOKEN + hashed, user, ex=ttl)
        pipe.sadd(USER_TOKENS + user, hashed)
        pipe.expire(USER_TOKENS + user, ttl, gt=True)
        pipe.expire(USER_TOKENS + user, ttl, nx=True)
        await pipe.execute()
    return token


async def revoke_user(redis: aioredis.Redis, user: str) -> int:
    """Remove every token of a user and close their open push websockets; returns how many tokens were live."""
    hashes = [_text(h) for h in cast(set[bytes], await redis.smembers(USER_TOKENS + user))]
    async with redis.pipeline(transaction=True) as pipe:
        if hashes:
            pipe.delete(*(TOKEN + h for h in hashes))
        pipe.delete(USER_TOKENS + user)
        pipe.publish(REVOKED, user)
        done = await pipe.execute()
    return int(done[0]) if hashes else 0


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def _redis_url(given: str | None) -> str:
    url = given or os.environ.get("REDIS_URL") or os.environ.get("ZQ_REDIS_URL")
    if not url:
        raise SystemExit("set REDIS_URL (or pass --redis-url) to the platform's Redis")
    return url


async def _main(args: argparse.Namespace) -> int:
    redis = aioredis.Redis.from_url(_redis_url(args.redis_url))
    try:
        if args.command == "add":
            try:
                token = await add_token(redis, args.user, load_settings().push.token_ttl_s)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(token)  # printed once; only its hash is kept
            print(f"token created for {args.user}; it is not stored and cannot be shown again", file=sys.stderr)
        else:
            count = await revoke_user(redis, args.user)
            print(f"revoked {count} token(s) of {args.user}", file=sys.stderr)
    finally:
        await redis.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m adapters.push.tokens add USER` prints a new token once; `revoke USER` removes all."""
    parser = argparse.ArgumentParser(prog="python -m adapters.push.tokens", description=__doc__)
    parser.add_argument("--redis-url", help="Redis URL (default: REDIS_URL)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("add", "revoke"):
        sub.add_parser(name).add_argument("user")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
