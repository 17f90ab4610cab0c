"""What every page of one operations-center process shares: Redis, settings, accounts, live state, ClickHouse."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from adapters.accounts import Accounts
from core.gazetteer import Gazetteer, load_gazetteer
from core.settings import Settings

if TYPE_CHECKING:
    from ledgers.store import LedgerStore
    from workflows.store import WorkflowStore

Query = Callable[[str], Awaitable[list[dict[str, Any]]]]  # a read-only ClickHouse query (through the store actor)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$")
# what each kind of id taken from a request may look like; anything else is refused before it is used or shown
ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "device": _ID,
    "ticket": re.compile(r"^[\w.:|-]{1,200}$"),  # rule:group:ms; a group may hold a village name (CJK is \w)
    "place": re.compile(r"^\w{1,40}$"),  # a gazetteer township or village name
}


def valid_id(kind: str, value: str) -> bool:
    """Whether a request's id of this kind (device, ticket, place) has the shape such ids have."""
    return bool(ID_PATTERNS[kind].fullmatch(value))


def sql_str(value: str) -> str:
    """A device or ticket id as a quoted SQL literal; anything but a plain id is refused (no injection)."""
    if not _ID.match(value):
        raise ValueError(f"not a valid id: {value[:40]!r}")
    return f"'{value}'"


@dataclass
class OpsContext:
    """Process-wide handles; pages take it with the signed-in user and keep their own state per session."""

    settings: Settings
    redis: aioredis.Redis
    query: Query
    accounts: Accounts = field(init=False)
    gazetteer: Gazetteer = field(default_factory=load_gazetteer)
    probes: dict[str, Any] = field(default_factory=dict)  # name -> Ray actor with `stats` (the health page)
    live: Any = None  # ops_center.live.LiveState, set by the server
    ledgers: LedgerStore | None = None  # the ledger records (台账); None where the platform runs without them
    workflows: WorkflowStore | None = None  # the declared items' applications (事项审批, 任务); None: not run

    def __post_init__(self) -> None:
        self.accounts = Accounts(self.redis, self.settings.ops)

    @property
    def var_dir(self) -> Path:
        """Where snapshots, photos and embedded stores live."""
        return self.settings.var_dir
