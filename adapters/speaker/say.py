"""Operator CLI: play a typed message on a station's loudspeaker.

    python -m adapters.speaker.say DEVICE_ID "文字" --by USER
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from redis.exceptions import RedisError

from adapters.bus import connect
from adapters.redis_server import default_url
from adapters.speaker.requests import BroadcastError, request_broadcast


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    ap = argparse.ArgumentParser(prog="python -m adapters.speaker.say", description="向劝导站喇叭发送语音广播")
    ap.add_argument("device_id", help="劝导站设备编号, 如 st-0001")
    ap.add_argument("text", help="要播放的文字 (不超过 200 字)")
    ap.add_argument("--by", required=True, help="操作人用户编号 (记入播放记录)")
    ap.add_argument("--redis-url", default=default_url(),
                    help="平台的 Redis 地址 (默认: REDIS_URL, 其次 var/redis/url)")  # fmt: skip
    return ap.parse_args(argv)


async def say(redis_url: str, device_id: str, text: str, by: str) -> str:
    """Queue the broadcast; returns its request key."""
    redis = connect(redis_url, max_connections=2)
    try:
        return await request_broadcast(redis, device_id, text, by)
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when queued, 2 when refused (the reason is printed), 1 when Redis is unreachable."""
    args = parse(argv)
    try:
        key = asyncio.run(say(args.redis_url, args.device_id, args.text, args.by))
    except BroadcastError as exc:
        print(f"未发送: {exc}", file=sys.stderr)
        return 2
    except (OSError, RedisError) as exc:
        print(f"未发送: 无法连接 Redis ({exc})", file=sys.stderr)
        return 1
    print(f"已排队: 劝导站 {args.device_id} 语音广播 (请求编号 {key})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
