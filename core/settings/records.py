"""The `records` section: the relational store of the administrative modules (ledgers, later workflows)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from core.settings.section import Section


class RecordsSettings(Section):
    """Where ledger records live, how their personal fields are sealed, and the limits of imports and uploads."""

    master_key: SecretStr | None = Field(
        None,
        description="Secret (≥16 bytes) from which the SM4 sealing key and the SM3 blind-index key are derived; "
        "unset means a random key kept in var/records/master.key (created once, mode 0600).",
    )
    ledgers_dir: Path | None = Field(None, description="Directory of ledger YAML files; unset means ledgers/default/.")
    page_size: int = Field(50, ge=5, le=500, description="Rows per page of a ledger list.")
    import_max_rows: int = Field(
        500_000, gt=0, description="Largest Excel import accepted, in data rows over all sheets."
    )
    import_max_mb: float = Field(80, gt=0, description="Largest Excel file accepted for import, in MB.")
    attachment_max_mb: float = Field(10, gt=0, description="Largest attachment accepted, in MB.")
    attachment_types: list[str] = Field(
        default_factory=lambda: ["jpg", "jpeg", "png", "pdf", "xlsx", "docx"],
        description="File name extensions accepted as attachments (lower case, no dot).",
    )
