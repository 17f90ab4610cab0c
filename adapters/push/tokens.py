"""Responder tokens: Redis hash `push:tokens` maps SHA-256(token) to a user id; the token itself is never stored."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import sys

import redis.asyncio as aioredis

TOKENS = "push:tokens"
MAX_TOKEN_CHARS = 256


def token_hash(token: str) -> str:
    """Hex SHA-256 of a token: what is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


async def user_for(redis: aioredis.Redis, token: str | None) -> str | None:
    """The user id a token belongs to, or None for a missing, oversized or unknown token."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    user = await redis.hget(TOKENS, token_hash(token))
    return user.decode() if isinstance(user, bytes) else user


async def add_token(redis: aioredis.Redis, user: str) -> str:
    """Create a new random token for a user and store its hash; returns the token (shown once)."""
    if not user or len(user) > 128:
        raise ValueError("user id must be 1-128 characters")
    token = secrets.token_urlsafe(32)
    await redis.hset(TOKENS, token_hash(token), user)
    return token


async def revoke_user(redis: aioredis.Redis, user: str) -> int:
    """Remove every token of a user; returns how many were removed."""
    stored = await redis.hgetall(TOKENS)
    mine = [h for h, u in stored.items() if (u.decode() if isinstance(u, bytes) else u) == user]
    return int(await redis.hdel(TOKENS, *mine)) if mine else 0


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
            token = await add_token(redis, args.user)
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
