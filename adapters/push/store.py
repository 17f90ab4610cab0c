"""Durable push state in Redis: pending dispatches per user, acks, SMS deadlines and claims, presence."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT

from adapters.bus import Consumer, Entry
from core.incidents import Dispatch

DISPATCH = "dispatch"  # stream in: field b"d" = msgpack Dispatch
COMMANDS = "commands"  # stream out: field b"c" = msgpack TicketCommand
GROUP = "push"  # consumer group of the push service on `dispatch`
DUE = "push:due"  # zset msgpack([user, dispatch_id]) -> ms when the SMS fallback is due
ONLINE = "push:online"  # zset user -> ms until which the user counts as connected
SMS_SENDING = "push:sms:sending"  # set of msgpack([user, dispatch_id]) claimed for SMS but not yet confirmed
PHONES = "push:phones"  # hash user -> phone number


def pending_key(user: str) -> str:
    """Hash dispatch_id -> msgpack Dispatch, the user's unacknowledged dispatches."""
    return f"push:pending:{user}"


def ticket_key(ticket_id: str) -> str:
    """Hash `assignee` -> current responder, `snapshot` -> evidence path, `h:<user>` for each current holder.

    A responder dispatch replaces it (a past recipient loses the ticket); a notification adds a holder."""
    return f"push:ticket:{ticket_id}"


def acked_key(dispatch_id: str) -> str:
    """String `<user> <ack ms>`: when the dispatch was acknowledged (kept record_ttl_s)."""
    return f"push:acked:{dispatch_id}"


def sms_key(dispatch_id: str) -> str:
    """String `sending` or `sent <ms>` / `nophone <ms>`: the SMS fallback happened (kept record_ttl_s)."""
    return f"push:sms:{dispatch_id}"


def now_ms() -> int:
    """Wall-clock milliseconds."""
    return int(time.time() * 1000)


def member(user: str, dispatch_id: str) -> bytes:
    """The zset/set member naming one dispatch of one user."""
    return msgspec.msgpack.encode([user, dispatch_id])


def unmember(raw: object) -> tuple[str, str]:
    """Inverse of `member`."""
    user, dispatch_id = msgspec.msgpack.decode(_bytes(raw), type=tuple[str, str])
    return user, dispatch_id


# Claim a due dispatch for SMS: only while it is still pending and never claimed before; drops it from DUE either way.
_CLAIM = """
redis.call('ZREM', KEYS[3], ARGV[2])
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if not redis.call('SET', KEYS[2], 'sending', 'NX', 'EX', ARGV[3]) then return 0 end
redis.call('SADD', KEYS[4], ARGV[2])
return 1
"""

# Acknowledge: drop from pending and DUE and record the ack time, atomically; a repeat returns the earlier record.
_ACK = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
  return 1
end
return redis.call('GET', KEYS[3])
"""

_decode = msgspec.msgpack.Decoder(Dispatch).decode


@dataclass
class PushStore:
    """Every push-service effect goes through here, so a restarted service picks up where it stopped."""

    redis: aioredis.Redis
    sms_after_ms: int
    record_ttl_s: int

    def __post_init__(self) -> None:
        self._claim = self.redis.register_script(_CLAIM)
        self._ack = self.redis.register_script(_ACK)

    async def store(self, consumer: Consumer, batch: list[tuple[bytes, Dispatch]]) -> list[Dispatch]:
        """Store dispatches as pending (skipping acknowledged ones) and ack their entries in one MULTI."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, d in batch:
                pipe.exists(acked_key(d.dispatch_id))
            done = await pipe.execute()
        fresh = [d for (_, d), seen in zip(batch, done, strict=True) if not seen]
        async with self.redis.pipeline(transaction=True) as pipe:
            for d in fresh:
                pipe.hset(pending_key(d.recipient), d.dispatch_id, msgspec.msgpack.encode(d))
                self._hold(pipe, d)
                pipe.zadd(DUE, {member(d.recipient, d.dispatch_id): d.ts + self.sms_after_ms}, nx=True)
            consumer.ack_in(pipe, [i for i, _ in batch])
            await pipe.execute()
        return fresh

    def _hold(self, pipe: Pipeline, d: Dispatch) -> None:
        """Record who holds the dispatch's ticket now: the responder dispatched to alone, or one more notified."""
        key = ticket_key(d.ticket_id)
        fields: dict[EncodableT, EncodableT] = {f"h:{d.recipient}": 1}
        if d.role == "responder":
            pipe.delete(key)
            fields["assignee"] = d.recipient
        if snapshot := d.detail.get("snapshot"):
            fields["snapshot"] = str(snapshot)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, self.record_ttl_s)

    async def pending(self, user: str) -> list[Dispatch]:
        """The user's unacknowledged dispatches in creation order."""
        raw = await self.redis.hvals(pending_key(user))
        return sorted((_decode(_bytes(b)) for b in raw), key=lambda d: (d.ts, d.dispatch_id))

    async def expire_pending(self, now: int) -> int:
        """Drop dispatches left unacknowledged longer than record_ttl_s (e.g. a family member's, who has no app)."""
        cutoff, gone = now - self.record_ttl_s * 1000, 0
        async for key in self.redis.scan_iter(match=pending_key("*"), count=500):
            user = _str(key).removeprefix(pending_key(""))
            raw = cast(dict[bytes, bytes], await self.redis.hgetall(key))
            old = [_str(i) for i, blob in raw.items() if _decode(_bytes(blob)).ts < cutoff]
            if old:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.hdel(key, *old)
                    pipe.zrem(DUE, *(member(user, i) for i in old))
                    await pipe.execute()
                gone += len(old)
        return gone

    async def get(self, user: str, dispatch_id: str) -> Dispatch | None:
        """One pending dispatch of a user."""
        raw = await self.redis.hget(pending_key(user), dispatch_id)
        return None if raw is None else _decode(_bytes(raw))

    async def ack(self, user: str, dispatch_id: str) -> bool:
        """Acknowledge a user's dispatch: drop it from pending and the SMS deadline, record the ack time.

        True when it was pending or was acknowledged by this user before (a repeated ack)."""
        keys = [pending_key(user), DUE, acked_key(dispatch_id)]
        args: list[EncodableT] = [dispatch_id, member(user, dispatch_id), f"{user} {now_ms()}", self.record_ttl_s]
        result = await self._ack(keys=keys, args=args)
        if result == 1:
            return True
        return result is not None and _str(result).rpartition(" ")[0] == user

    async def acked_at(self, dispatch_id: str) -> int | None:
        """When a dispatch was acknowledged (ms), if it was."""
        raw = await self.redis.get(acked_key(dispatch_id))
        return None if raw is None else int(_str(raw).rpartition(" ")[2])

    async def may_act(self, user: str, ticket_id: str) -> bool:
        """True when the user is the ticket's current assignee (its latest responder dispatch went to them)."""
        raw = await self.redis.hget(ticket_key(ticket_id), "assignee")
        return raw is not None and _str(raw) == user

    async def evidence(self, user: str, ticket_id: str) -> str | None:
        """The evidence path of a ticket the user currently holds (assignee or notified), else None."""
        held, path = await self.redis.hmget(ticket_key(ticket_id), [f"h:{user}", "snapshot"])
        return _str(path) if held is not None and path is not None else None

    async def mark_online(self, users: list[str], until_ms: int) -> None:
        """Users with a live connection here count as online until until_ms (refreshed every check)."""
        if users:
            await self.redis.zadd(ONLINE, dict.fromkeys(users, until_ms))

    async def mark_offline(self, user: str) -> None:
        """The user's last connection here closed."""
        await self.redis.zrem(ONLINE, user)

    async def online(self, user: str, now: int) -> bool:
        """True while some push service holds a live connection of the user."""
        until = await self.redis.zscore(ONLINE, user)
        return until is not None and until > now

    async def due(self, now: int, limit: int = 200) -> list[tuple[str, str]]:
        """(user, dispatch_id) whose SMS deadline has passed."""
        raw = await self.redis.zrangebyscore(DUE, "-inf", now, start=0, num=limit)
        return [unmember(m) for m in raw]

    async def postpone(self, user: str, dispatch_id: str, at_ms: int) -> None:
        """Check an SMS deadline again at at_ms (the user was online)."""
        await self.redis.zadd(DUE, {member(user, dispatch_id): at_ms}, xx=True)

    async def claim_sms(self, user: str, dispatch_id: str) -> bool:
        """Claim the one SMS of a still-pending dispatch; False when acked or already claimed."""
        keys = [pending_key(user), sms_key(dispatch_id), DUE, SMS_SENDING]
        return bool(await self._claim(keys=keys, args=[dispatch_id, member(user, dispatch_id), self.record_ttl_s]))

    async def sms_done(self, user: str, dispatch_id: str, outcome: str) -> None:
        """Confirm a claimed SMS (`sent` or `nophone`)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(sms_key(dispatch_id), f"{outcome} {now_ms()}", ex=self.record_ttl_s)
            pipe.srem(SMS_SENDING, member(user, dispatch_id))
            await pipe.execute()

    async def sms_failed(self, user: str, dispatch_id: str, retry_at_ms: int) -> None:
        """Release a claim whose send failed, to be tried again at retry_at_ms."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(sms_key(dispatch_id))
            pipe.srem(SMS_SENDING, member(user, dispatch_id))
            pipe.zadd(DUE, {member(user, dispatch_id): retry_at_ms})
            await pipe.execute()

    async def sms_in_flight(self) -> list[tuple[str, str]]:
        """Claims left unconfirmed by a stopped service."""
        return [unmember(m) for m in await self.redis.smembers(SMS_SENDING)]

    async def phone(self, user: str) -> str | None:
        """The user's phone number from `push:phones`."""
        raw = await self.redis.hget(PHONES, user)
        return None if raw is None else _str(raw)


def _bytes(raw: object) -> bytes:
    """A reply value as bytes (clients are created without decode_responses)."""
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, str):
        return raw.encode()
    raise TypeError(f"unexpected Redis reply {type(raw).__name__}")


def _str(raw: object) -> str:
    return _bytes(raw).decode()


def decode_entry(entry: Entry) -> Dispatch:
    """The Dispatch of a `dispatch` stream entry (raises on a malformed one)."""
    return _decode(entry[1][b"d"])
