"""Schema of the ledger store at start: Alembic revisions for the fixed tables, declared tables checked against the
database. A declaration change that needs a migration stops the start and says what; `--apply` runs the safe ones.

    python -m ledgers.migrate            # what would change
    python -m ledgers.migrate --apply    # add new columns and indexes (never drops or retypes anything)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Column, Engine, Index, Table

from ledgers.loader import LedgerSet
from ledgers.tables import ledger_metadata

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SAFE = ("add_column", "add_index")


class MigrationNeeded(RuntimeError):
    """The declared ledgers differ from the database in a way that changes stored data's shape; lists each change."""

    def __init__(self, changes: list[str], safe: bool) -> None:
        how = ("run `python -m ledgers.migrate --apply` to add them" if safe
               else "these need a hand-written Alembic revision under ledgers/migrations/versions")  # fmt: skip
        super().__init__("ledger declarations differ from the database (" + how + "):\n  " + "\n  ".join(changes))
        self.changes, self.safe = changes, safe


def upgrade_fixed(engine: Engine) -> None:
    """Bring the fixed tables (versions, attachments) to the newest Alembic revision."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _describe(diff: Any) -> tuple[str, str]:
    """(kind, a line naming the table and column) of one Alembic difference."""
    if isinstance(diff, list):  # column modifications come as a list of tuples
        kind, _, table, column = diff[0][:4]
        return kind, f"{kind} {table}.{column}: {diff[0][-2]!r} -> {diff[0][-1]!r}"
    kind, obj = diff[0], diff[-1]
    if isinstance(obj, Column):
        return kind, f"{kind} {diff[2]}.{obj.name} ({obj.type})"
    if isinstance(obj, Index):
        return kind, f"{kind} {obj.name} on {obj.table.name if obj.table is not None else '?'}"
    if isinstance(obj, Table):
        return kind, f"{kind} {obj.name}"
    return kind, f"{kind} {obj}"


def pending(engine: Engine, ledgers: LedgerSet) -> list[Any]:
    """Differences between the declared ledger tables and the database (tables not yet there excluded)."""
    md, tables = ledger_metadata(ledgers)
    names = {t.name for t in tables.values()}
    with engine.connect() as conn:
        present = set(conn.dialect.get_table_names(conn))

        def ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
            table = obj.name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
            return bool(table in names and table in present)

        ctx = MigrationContext.configure(conn, opts={"include_object": ours, "compare_type": True})
        return list(compare_metadata(ctx, md))


def prepare(engine: Engine, ledgers: LedgerSet) -> None:
    """At start: fixed tables to head, tables of new ledgers created, MigrationNeeded for any other difference."""
    upgrade_fixed(engine)
    md, _ = ledger_metadata(ledgers)
    md.create_all(engine)  # only tables that are missing; an existing table is never touched here
    diffs = pending(engine, ledgers)
    if diffs:
        kinds = [_describe(d) for d in diffs]
        raise MigrationNeeded([line for _, line in kinds], safe=all(k in SAFE for k, _ in kinds))


def apply_safe(engine: Engine, ledgers: LedgerSet) -> list[str]:
    """Add the new columns and indexes the declarations ask for; MigrationNeeded if anything else differs."""
    upgrade_fixed(engine)
    ledger_metadata(ledgers)[0].create_all(engine)
    diffs = pending(engine, ledgers)
    kinds = [_describe(d) for d in diffs]
    unsafe = [line for k, line in kinds if k not in SAFE]
    if unsafe:
        raise MigrationNeeded(unsafe, safe=False)
    with engine.begin() as conn:
        ops = Operations(MigrationContext.configure(conn))
        for d in diffs:
            if d[0] == "add_column":
                col = d[3].copy()
                col.nullable = True
                ops.add_column(d[2], col)
            else:
                idx = d[1]
                ops.create_index(idx.name, idx.table.name, [c.name for c in idx.columns])
    return [line for _, line in kinds]


def main(argv: list[str] | None = None) -> int:
    """Show or apply the migrations the declared ledgers need."""
    from core.settings import load_settings
    from ledgers.loader import load_ledgers
    from ledgers.store import open_engine

    args = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    args.add_argument("--apply", action="store_true", help="add new columns and indexes")
    ns = args.parse_args(argv)
    settings = load_settings()
    engine = open_engine(settings)
    ledgers = load_ledgers(settings.records.ledgers_dir)
    try:
        if ns.apply:
            done = apply_safe(engine, ledgers)
            print("applied:\n  " + "\n  ".join(done) if done else "nothing to migrate")
        else:
            prepare(engine, ledgers)
            print("ledger tables match their declarations")
    except MigrationNeeded as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
