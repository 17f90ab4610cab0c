"""Shared context handed to every route of the citizens' H5 service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from core.settings import Settings
from ledgers.store import LedgerStore
from workflows.store import WorkflowStore


@dataclass
class CitizenContext:
    """Everything the citizen-facing routes need: settings, Redis, stores, file paths."""

    settings: Settings
    redis: aioredis.Redis
    ledgers: LedgerStore
    workflows: WorkflowStore
    attachments_dir: Path
    sms_path: Path
