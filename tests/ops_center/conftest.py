"""Fixtures shared by the operations-center tests: a real embedded ClickHouse with the platform's tables; the ledger
store, ops context and API of the ledger pages' tests (ledger_kit)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ledger_kit import api, decl_dir, ledger_ctx  # noqa: F401  (fixtures of the ledger tests)

from adapters.telemetry import ChdbBackend, open_backend, schema


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbBackend]:
    """A real embedded ClickHouse with the platform's (empty) tables, one per test module."""
    b = open_backend(None, tmp_path_factory.mktemp("ops-chdb"))
    assert isinstance(b, ChdbBackend)
    for ddl in schema(30):
        b.command(ddl)
    yield b
    b.close()
