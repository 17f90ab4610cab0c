"""ClickHouse telemetry: schema derived from each kind's reading, and chDB or clickhouse-connect backends."""

from __future__ import annotations

import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar, Union, get_args, get_origin

import msgspec

from core.events import DeviceEvent, Message
from core.kinds import reading_of, readings

T = TypeVar("T")
_JSON = msgspec.json.Encoder()
DB = "zq"
COMMON = [("device_id", "String"), ("seq", "UInt64"), ("ts", "DateTime64(3, 'UTC')"), ("rx", "DateTime64(3, 'UTC')")]
EVENT_COLUMNS = [
    ("event_id", "String"), ("type", "LowCardinality(String)"), ("kind", "LowCardinality(String)"),
    ("device_id", "String"), ("ts", "DateTime64(3, 'UTC')"), ("seq", "UInt64"), ("village", "LowCardinality(String)"),
    ("lat", "Nullable(Float64)"), ("lon", "Nullable(Float64)"), ("detail", "String"),
]  # fmt: skip
EVENTS_TABLE = "device_events"
TICKET_EVENTS_TABLE = "ticket_events"
TICKET_EVENT_COLUMNS = [
    ("ticket_id", "String"), ("seq", "UInt32"), ("ts", "DateTime64(3, 'UTC')"), ("actor", "String"),
    ("action", "LowCardinality(String)"), ("from_state", "LowCardinality(String)"),
    ("to_state", "LowCardinality(String)"), ("note", "String"), ("key", "String"), ("detail", "String"),
]  # fmt: skip
SPEAKER_LOG_TABLE = "speaker_log"  # every voice warning delivery to a station loudspeaker
SPEAKER_LOG_COLUMNS = [
    ("key", "String"), ("device_id", "String"), ("ts", "DateTime64(3, 'UTC')"), ("text", "String"), ("by", "String"),
    ("reason", "LowCardinality(String)"), ("ok", "Bool"), ("bytes", "UInt32"), ("ms", "UInt32"), ("attempts", "UInt8"),
    ("error", "String"),
]  # fmt: skip
AUDIT_TABLE = "audit_log"  # every operations-center login and action: who, what, when, from where
AUDIT_COLUMNS = [
    ("ts", "DateTime64(3, 'UTC')"), ("user", "String"), ("action", "LowCardinality(String)"), ("target", "String"),
    ("ok", "Bool"), ("ip", "String"), ("detail", "String"),
]  # fmt: skip
# tables that are not per device kind: name -> (columns, ORDER BY)
FIXED_TABLES = {
    EVENTS_TABLE: (EVENT_COLUMNS, "device_id, ts, event_id"),
    TICKET_EVENTS_TABLE: (TICKET_EVENT_COLUMNS, "ticket_id, seq"),
    SPEAKER_LOG_TABLE: (SPEAKER_LOG_COLUMNS, "device_id, ts, key"),
    AUDIT_TABLE: (AUDIT_COLUMNS, "ts, user"),
}


def table_of(kind: str) -> str:
    """Telemetry table of a device kind."""
    return f"tele_{kind}"


def _ch_type(name: str, annotation: Any) -> str:
    """ClickHouse column type for a reading field annotation."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    optional = get_origin(annotation) in (Union, types.UnionType) and len(args) == 1
    base = args[0] if optional else annotation
    if get_origin(base) is list:
        item = (get_args(base) or (float,))[0]
        return {str: "Array(String)", int: "Array(Int64)"}.get(item, "Array(Float32)")
    scalar = {
        bool: "Bool",
        int: "Int32",
        float: "Float64" if name in ("lat", "lon") else "Float32",
        str: "LowCardinality(String)",
    }.get(base)
    if scalar is None:
        raise TypeError(f"reading field {name!r}: no ClickHouse type for {annotation!r}")
    if not optional:
        return scalar
    if scalar.startswith("LowCardinality"):
        return "LowCardinality(Nullable(String))"
    return f"Nullable({scalar})"


def reading_columns(reading: type[msgspec.Struct]) -> list[tuple[str, str]]:
    """Column (name, type) for every field of a reading struct."""
    return [(f.name, _ch_type(f.name, f.type)) for f in msgspec.structs.fields(reading)]


@cache
def _row_fields(reading: type[msgspec.Struct]) -> list[tuple[str, bool]]:
    """(field name, is an array) of a reading in column order; arrays go to ClickHouse as [] rather than null."""
    return [(name, type_.startswith("Array")) for name, type_ in reading_columns(reading)]


def reading_row(m: Message[Any]) -> bytes:
    """JSONCompactEachRow line of one message for its kind's telemetry table, in `column_names` order."""
    v: msgspec.Struct = m.v
    vals = [(getattr(v, n) or []) if arr else getattr(v, n) for n, arr in _row_fields(type(v))]
    return _JSON.encode([m.device_id, m.seq, m.ts / 1000, m.rx / 1000, *vals])


def event_row(e: DeviceEvent) -> bytes:
    """JSONCompactEachRow line of one device event for the device_events table, in EVENT_COLUMNS order."""
    detail = _JSON.encode(e.detail).decode()
    return _JSON.encode([e.event_id, e.type, e.kind, e.device_id, e.ts / 1000, e.seq, e.village, e.lat, e.lon, detail])


def _create(table: str, columns: list[tuple[str, str]], order: str, ttl_days: int) -> str:
    cols = ",\n  ".join(f"`{n}` {t}" for n, t in columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {DB}.{table} (\n  {cols},\n"
        "  `stored` DateTime64(3, 'UTC') DEFAULT now64(3)\n)"
        f" ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY ({order})"
        f" TTL toDateTime(ts) + INTERVAL {ttl_days} DAY"
        " SETTINGS non_replicated_deduplication_window = 10000"
    )


def schema(ttl_days: int) -> list[str]:
    """DDL for every kind's telemetry table, device events and ticket history."""
    ddl = [f"CREATE DATABASE IF NOT EXISTS {DB}"]
    for kind, reading in sorted(readings().items()):
        ddl.append(_create(table_of(kind), COMMON + reading_columns(reading), "device_id, ts, seq", ttl_days))
    for table, (columns, order) in FIXED_TABLES.items():
        ddl.append(_create(table, columns, order, ttl_days))
    return ddl


def column_names(table: str) -> list[str]:
    """Insert column order of a table (the order rows are built in)."""
    if table in FIXED_TABLES:
        return [n for n, _ in FIXED_TABLES[table][0]]
    kind = table.removeprefix("tele_")
    return [n for n, _ in COMMON + reading_columns(reading_of(kind))]


class Backend(Protocol):
    """What the sink and queries need from ClickHouse."""

    def command(self, sql: str) -> None: ...
    def insert_json_rows(self, table: str, columns: list[str], data: bytes, token: str) -> None: ...
    def query(self, sql: str) -> list[dict[str, Any]]: ...


class ChdbBackend:
    """Embedded ClickHouse (chDB) in this process; the directory is locked to one process.

    chDB sessions are not thread-safe, so every call runs on one dedicated thread, whichever thread asks.
    After `close` every call fails with ConnectionError, as a stopped server would, until `open`.
    """

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._path = str(path)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb")
        self._session: Any = None
        self.open()

    def open(self) -> None:
        """Open the session (again after `close`), taking the directory lock."""
        self._run(self._open)

    def _open(self) -> None:
        if self._session is None:
            self._session = _open_session(self._path)

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return self._thread.submit(fn, *args).result()

    def _query(self, sql: str, fmt: str = "CSV") -> Any:
        if self._session is None:
            raise ConnectionError("chDB session is closed")
        return self._session.query(sql, fmt)

    def command(self, sql: str) -> None:
        """Run a statement."""
        self._run(self._query, sql)

    def insert_json_rows(self, table: str, columns: list[str], data: bytes, token: str) -> None:
        """Insert JSONCompactEachRow rows; the same token twice inserts once."""
        cols = ", ".join(f"`{c}`" for c in columns)
        sql = (
            f"INSERT INTO {DB}.{table} ({cols}) SETTINGS insert_deduplication_token = '{token}' "
            "FORMAT JSONCompactEachRow\n"
        )
        self._run(self._query, sql + data.decode())

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts."""
        out = self._run(lambda: self._query(sql, "JSONEachRow").bytes())
        return [msgspec.json.decode(line) for line in out.splitlines() if line]

    def close(self) -> None:
        """Release the directory lock (the backend is down until `open`)."""
        self._run(self._close)

    def _close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _open_session(path: str) -> Any:
    from chdb import session

    return session.Session(path)


class ServerBackend:
    """A ClickHouse server or cluster through clickhouse-connect (CLICKHOUSE_URL)."""

    def __init__(self, url: str) -> None:
        import clickhouse_connect

        self._client = clickhouse_connect.get_client(dsn=url)

    def command(self, sql: str) -> None:
        """Run a statement."""
        self._client.command(sql)

    def insert_json_rows(self, table: str, columns: list[str], data: bytes, token: str) -> None:
        """Insert JSONCompactEachRow rows; the same token twice inserts once."""
        self._client.raw_insert(
            f"{DB}.{table}", columns, insert_block=data, fmt="JSONCompactEachRow",
            settings={"insert_deduplication_token": token},
        )  # fmt: skip

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts."""
        return list(self._client.query(sql).named_results())

    def close(self) -> None:
        """Close the connection."""
        self._client.close()


def open_backend(clickhouse_url: str | None, var_dir: Path) -> ChdbBackend | ServerBackend:
    """clickhouse-connect when a URL is configured, otherwise chDB under var/."""
    if clickhouse_url:
        return ServerBackend(clickhouse_url)
    return ChdbBackend(var_dir / "chdb")
