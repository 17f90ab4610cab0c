"""Replay dead letters: entries of the `dead` stream go back to the stream they came from, for its consumers again.

    python -m adapters.dead_letters replay --stream store [--since ISO --until ISO] [--dry-run]

The time range is when an entry was dead-lettered (its id in `dead`); a time without an offset is Beijing time.
Each entry moves in one Lua call (XADD of its original fields to its stream, XDEL from `dead`), so a replay that is
interrupted or run twice at once moves every entry exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from adapters.bus import DEAD, Entry, connect
from adapters.redis_server import default_url
from core.clock import BEIJING

SHOWN_IDS = 5  # ids listed per stream by a dry run
# dead_letter adds stream, group, id and error to an entry's own fields; the rest goes back
_MOVE = """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return 0 end
local f, out, stream = found[1][2], {}, false
for i = 1, #f, 2 do
  if f[i] == 'stream' then stream = f[i + 1]
  elseif f[i] ~= 'group' and f[i] ~= 'id' and f[i] ~= 'error' then
    out[#out + 1] = f[i]; out[#out + 1] = f[i + 1]
  end
end
if stream ~= KEYS[2] or #out == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(out))
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
"""


@dataclass
class Plan:
    """Dead letters chosen for a replay: per original stream, the entries of `dead` (oldest first)."""

    entries: dict[str, list[Entry]]

    def summary(self) -> list[str]:
        """One line per stream: how many, and the first few original ids."""
        lines = []
        for stream, entries in sorted(self.entries.items()):
            ids = [f[b"id"].decode() for _, f in entries[:SHOWN_IDS] if b"id" in f]
            more = " …" if len(entries) > SHOWN_IDS else ""
            lines.append(f"{stream}: {len(entries)} 条  原编号 {', '.join(ids) or '-'}{more}")
        return lines


def parse_time(text: str) -> int:
    """An ISO 8601 time as ms since the epoch (without an offset it is Beijing time)."""
    at = datetime.fromisoformat(text)
    return int((at if at.tzinfo else at.replace(tzinfo=BEIJING)).timestamp() * 1000)


async def plan(redis: aioredis.Redis, streams: set[str], since_ms: int | None, until_ms: int | None) -> Plan:
    """The dead letters of `streams` dead-lettered within [since_ms, until_ms]."""
    chosen: dict[str, list[Entry]] = {}
    start = str(since_ms) if since_ms is not None else "-"
    end = f"{until_ms}-18446744073709551615" if until_ms is not None else "+"
    while True:
        page = cast(list[Entry], await redis.xrange(DEAD, min=start, max=end, count=1000))
        for entry in page:
            stream = entry[1].get(b"stream", b"").decode()
            if stream in streams:
                chosen.setdefault(stream, []).append(entry)
        if len(page) < 1000:
            return Plan(chosen)
        start = "(" + page[-1][0].decode()


async def replay(redis: aioredis.Redis, chosen: Plan) -> Counter[str]:
    """Move every planned entry back to its stream; returns how many moved per stream."""
    move = redis.register_script(_MOVE)
    moved: Counter[str] = Counter()
    for stream, entries in chosen.entries.items():
        for dead_id, _ in entries:
            moved[stream] += int(await move(keys=[DEAD, stream], args=[dead_id]))
    return moved


async def run(args: argparse.Namespace) -> list[str]:
    """Plan, and unless a dry run, replay; returns the lines to print."""
    since = parse_time(args.since) if args.since else None
    until = parse_time(args.until) if args.until else None
    redis = connect(args.redis_url, max_connections=2)
    try:
        chosen = await plan(redis, set(args.stream), since, until)
        if not chosen.entries:
            return ["没有符合条件的死信"]
        if args.dry_run:
            return ["演练 (未改动任何数据), 将重放:", *chosen.summary()]
        moved = await replay(redis, chosen)
        return [f"已重放 {stream}: {n} 条" for stream, n in sorted(moved.items())]
    finally:
        await redis.aclose()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    ap = argparse.ArgumentParser(prog="python -m adapters.dead_letters", description="死信重放")
    sub = ap.add_subparsers(dest="cmd", required=True)
    rp = sub.add_parser("replay", help="把死信放回原来的流, 重新处理")
    rp.add_argument("--stream", action="append", required=True, help="原来的流, 如 store (可重复)")
    rp.add_argument("--since", help="进入死信的时间不早于 (ISO 8601, 不带时区为北京时间)")
    rp.add_argument("--until", help="进入死信的时间不晚于 (ISO 8601, 不带时区为北京时间)")
    rp.add_argument("--dry-run", action="store_true", help="只列出将重放的条目, 不改动数据")
    rp.add_argument("--redis-url", default=default_url(),
                    help="平台的 Redis 地址 (默认: 环境变量 REDIS_URL, 否则 var/redis 下平台自己的 Redis)")  # fmt: skip
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when done, 2 for a bad time, 1 when Redis is unreachable."""
    args = parse(argv)
    try:
        lines = asyncio.run(run(args))
    except ValueError as exc:
        print(f"时间格式错误: {exc}", file=sys.stderr)
        return 2
    except (OSError, RedisError) as exc:
        print(f"无法连接 Redis ({exc})", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
