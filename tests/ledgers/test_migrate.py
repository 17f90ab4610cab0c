"""Migrations at start, on both backends: a new ledger gets its table, an unchanged one passes, a changed
declaration stops the start and says what; `apply_safe` adds new fields and refuses anything that alters data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from ledger_testkit import OFFICER_A, VILLAGE_A, open_store

from ledgers.loader import DEFAULT_DIR, load_ledgers
from ledgers.migrate import MigrationNeeded, apply_safe, prepare


def declarations(tmp_path: Path) -> Path:
    """A copy of the default declarations to edit."""
    out = tmp_path / "decl"
    shutil.copytree(DEFAULT_DIR, out)
    return out


def test_a_second_start_on_the_same_database_changes_nothing(ledger_url: str) -> None:
    store, _ = open_store(ledger_url)
    prepare(store.engine, store.ledgers)
    with store.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM ledger_schema_version")).scalar()
    assert version == "0001"


def test_a_new_field_stops_the_start_until_it_is_applied_and_keeps_the_records(ledger_url: str,
                                                                                tmp_path: Path) -> None:  # fmt: skip
    decl = declarations(tmp_path)
    store, _ = open_store(ledger_url, decl)
    rec = store.create(OFFICER_A, "grid", {"grid_name": "一号网格", "officer": "张网格", "phone": "13909410001"},
                       village=VILLAGE_A)  # fmt: skip
    text = (decl / "grid.yaml").read_text(encoding="utf-8")
    (decl / "grid.yaml").write_text(text.replace("fields:\n", "fields:\n  - {key: patrol_km, label: 巡查里程, "
                                                 "type: decimal, unit: 公里}\n", 1), encoding="utf-8")  # fmt: skip
    changed = load_ledgers(decl)
    with pytest.raises(MigrationNeeded) as exc:
        prepare(store.engine, changed)
    assert exc.value.safe
    assert "lg_grid.patrol_km" in str(exc.value)
    assert "python -m ledgers.migrate --apply" in str(exc.value)
    assert any("patrol_km" in line for line in apply_safe(store.engine, changed))
    prepare(store.engine, changed)
    after, _ = open_store(ledger_url, decl)
    assert after.get(OFFICER_A, "grid", rec.id).values["grid_name"] == "一号网格"


def test_a_changed_type_is_refused_and_needs_a_written_revision(ledger_url: str, tmp_path: Path) -> None:
    decl = declarations(tmp_path)
    store, _ = open_store(ledger_url, decl)
    doc = yaml.safe_load((decl / "grid.yaml").read_text(encoding="utf-8"))
    persons = next(f for f in doc["fields"] if f["key"] == "persons")
    persons["type"] = "decimal"  # stored as an integer column until now
    (decl / "grid.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    changed = load_ledgers(decl)
    with pytest.raises(MigrationNeeded) as exc:
        prepare(store.engine, changed)
    assert not exc.value.safe
    assert "hand-written Alembic revision" in str(exc.value)
    with pytest.raises(MigrationNeeded):
        apply_safe(store.engine, changed)
