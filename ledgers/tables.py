"""The relational tables of the ledgers: one table per declared ledger, plus versions and attachments (fixed)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from ledgers.loader import LedgerSet
from ledgers.schema import FieldSpec, Ledger

ID_LEN = 24
fixed = MetaData()  # tables created by the Alembic revisions under ledgers/migrations
versions = Table(
    "ledger_versions", fixed,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ledger", String(40), nullable=False),
    Column("record_id", String(ID_LEN), nullable=False),
    Column("version", Integer, nullable=False),
    Column("action", String(16), nullable=False),  # create | update | delete | restore | import
    Column("at", BigInteger, nullable=False),  # epoch ms
    Column("by_user", String(64), nullable=False),
    Column("ip", String(64), nullable=False, default=""),
    Column("diff", LargeBinary, nullable=False),  # SM4-sealed JSON {"before": {...}, "after": {...}}
    Index("ix_ledger_versions_record", "ledger", "record_id", "version"),
)  # fmt: skip
attachments = Table(
    "ledger_attachments", fixed,
    Column("sha256", String(64), primary_key=True),
    Column("ledger", String(40), nullable=False),
    Column("record_id", String(ID_LEN), nullable=True),
    Column("filename", String(200), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("by_user", String(64), nullable=False),
)  # fmt: skip


def table_name(ledger: str) -> str:
    """The table of a ledger's records."""
    return f"lg_{ledger}"


def geo_columns(key: str) -> tuple[str, str]:
    """The two columns of a plain geo field (longitude, latitude)."""
    return f"{key}_lon", f"{key}_lat"


def index_column(key: str) -> str:
    """The blind-index column of a looked-up personal field."""
    return f"{key}__bix"


def _plain_type(spec: FieldSpec) -> TypeEngine:  # type: ignore[type-arg]
    if spec.type == "integer":
        return BigInteger()
    if spec.type == "decimal":
        return Numeric(18, spec.scale)
    if spec.type == "date":
        return Date()
    if spec.type == "bool":
        return Boolean()
    if spec.type in ("ref", "attachment"):
        return String(64)
    if spec.type in ("enum", "place"):
        return String(max(40, *(len(o) for o in spec.options)) if spec.options else 40)
    return String(spec.max_length) if spec.max_length <= 400 else Text()


def field_columns(spec: FieldSpec) -> list[Column]:  # type: ignore[type-arg]
    """The columns one field takes: sealed bytes (and a blind index) for a personal one, typed otherwise."""
    indexed = spec.sort or spec.filter
    if spec.personal:
        cols: list[Column] = [Column(spec.key, LargeBinary, nullable=True)]  # type: ignore[type-arg]
        if spec.lookup:
            cols.append(Column(index_column(spec.key), String(64), nullable=True, index=True))
        return cols
    if spec.type == "geo":
        lon, lat = geo_columns(spec.key)
        return [Column(lon, Float, nullable=True), Column(lat, Float, nullable=True)]
    return [Column(spec.key, _plain_type(spec), nullable=True, index=indexed)]


def ledger_table(ledger: Ledger, metadata: MetaData) -> Table:
    """The table of one ledger: system columns (id, place, parent, version, who and when), then its fields."""
    name = table_name(ledger.ledger)
    return Table(
        name, metadata,
        Column("id", String(ID_LEN), primary_key=True),
        Column("township", String(40), nullable=False),
        Column("village", String(40), nullable=False),
        Column("parent_id", String(ID_LEN), nullable=True, index=True),
        Column("version", Integer, nullable=False),
        Column("deleted", Boolean, nullable=False, default=False),
        Column("created_at", BigInteger, nullable=False),
        Column("created_by", String(64), nullable=False),
        Column("updated_at", BigInteger, nullable=False, index=True),
        Column("updated_by", String(64), nullable=False),
        *(c for spec in ledger.fields for c in field_columns(spec)),
        Index(f"ix_{name}_place", "township", "village", "deleted"),
    )  # fmt: skip


def ledger_metadata(ledgers: LedgerSet) -> tuple[MetaData, dict[str, Table]]:
    """The declared ledgers' tables (not the fixed ones), by ledger key."""
    md = MetaData()
    return md, {key: ledger_table(lg, md) for key, lg in ledgers.ledgers.items()}
