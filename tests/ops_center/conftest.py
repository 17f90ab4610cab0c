"""Fixtures shared by the operations-center tests: a real embedded ClickHouse with the platform's tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
