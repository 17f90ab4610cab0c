"""Opening the workflow store of a process at start, beside its ledger store (same database and sealing key)."""

from __future__ import annotations

from core.personal import Sealer
from core.settings import Settings
from ledgers.store import LedgerStore, master_key
from workflows.loader import load_items
from workflows.store import WorkflowStore, open_workflows


def open_workflow_store(settings: Settings, ledgers: LedgerStore) -> WorkflowStore:
    """The configured items on the ledger store's database, tables migrated and definitions recorded."""
    items = load_items(settings.workflows.items_dir)
    return open_workflows(ledgers, Sealer(master_key(settings)), settings.workflows, items)
