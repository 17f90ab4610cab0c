"""Platform settings: environment variables, an optional YAML file, loud failure on unknown keys.

One module per section; the root `Settings` and its sources live here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.settings.bus import BusSettings, StreamRetention
from core.settings.ingest import IngestSettings
from core.settings.ops import OpsSettings
from core.settings.push import PushSettings
from core.settings.records import RecordsSettings
from core.settings.serve import DeploymentSettings, DetectorSettings, PlateReaderSettings, ServeSettings
from core.settings.sink import SinkSettings
from core.settings.speaker import SpeakerSettings
from core.settings.watch import WatchSettings
from core.settings.workflows import WorkflowSettings

__all__ = [
    "BusSettings",
    "DeploymentSettings",
    "DetectorSettings",
    "IngestSettings",
    "OpsSettings",
    "PlateReaderSettings",
    "PushSettings",
    "RecordsSettings",
    "ServeSettings",
    "Settings",
    "SinkSettings",
    "SpeakerSettings",
    "StreamRetention",
    "WatchSettings",
    "WorkflowSettings",
    "load_settings",
]


class Settings(BaseSettings):
    """Everything configurable; unknown keys in the environment prefix or YAML file are errors."""

    model_config = SettingsConfigDict(env_prefix="ZQ_", env_nested_delimiter="__", extra="forbid")

    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "ZQ_REDIS_URL", "redis_url"),
        description="Redis to use; unset means the platform runs its own redis-server under var/.",
    )
    clickhouse_url: str | None = Field(
        None,
        validation_alias=AliasChoices("CLICKHOUSE_URL", "ZQ_CLICKHOUSE_URL", "clickhouse_url"),
        description="ClickHouse server (clickhouse-connect URL); unset means embedded chDB under var/.",
    )
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "ZQ_DATABASE_URL", "database_url"),
        description="Relational store of the administrative modules (SQLAlchemy URL, e.g. postgresql+psycopg://…); "
        "unset means SQLite under var/records/.",
    )
    var_dir: Path = Field(Path("var"), description="Directory for embedded stores, logs and snapshots.")
    snapshot_retention_days: float = Field(
        90, gt=0, description="Event snapshots under var/snapshots older than this are deleted by their video host."
    )
    device_master_key: SecretStr = Field(
        SecretStr("zhouqu-demo-master-key-change-me"),
        description="Secret from which each device's own HMAC key is derived; set a real one in production.",
    )
    shards: dict[str, int] = Field(
        default_factory=lambda: {"wristband": 2, "beehive": 1},
        description="Host shards per device kind; a kind not listed gets one shard.",
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Ingest gateway settings.")
    watch: WatchSettings = Field(default_factory=WatchSettings, description="Watch protocol server settings.")
    bus: BusSettings = Field(default_factory=BusSettings, description="Redis Streams settings.")
    sink: SinkSettings = Field(default_factory=SinkSettings, description="ClickHouse sink settings.")
    push: PushSettings = Field(default_factory=PushSettings, description="Responder push service settings.")
    serve: ServeSettings = Field(default_factory=ServeSettings, description="Ray Serve model deployment settings.")
    speaker: SpeakerSettings = Field(
        default_factory=SpeakerSettings, description="Voice warnings to station loudspeakers (synthesis, delivery)."
    )
    ops: OpsSettings = Field(default_factory=OpsSettings, description="Operations center (Panel app) settings.")
    records: RecordsSettings = Field(
        default_factory=RecordsSettings, description="Ledger records: store, sealing key, import and upload limits."
    )
    workflows: WorkflowSettings = Field(
        default_factory=WorkflowSettings, description="Declared workflows: enabled villages, timers, the citizen edge."
    )
    rules_dir: Path | None = Field(
        None, description="Directory of rule YAML files (edits are picked up live); unset means rules/default/."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order: explicit arguments, environment, then the YAML file named by ZQ_CONFIG."""
        _check_environment(settings_cls)
        return init_settings, env_settings, _YamlSource(settings_cls)

    def shard_count(self, kind: str) -> int:
        """Number of host shards for a device kind."""
        return self.shards.get(kind, 1)


def _check_environment(settings_cls: type[BaseSettings]) -> None:
    """Unknown ZQ_* variables are errors (a typo must not silently fall back to a default)."""
    for name in os.environ:
        if not name.startswith("ZQ_") or name in ("ZQ_CONFIG", "ZQ_REDIS_URL", "ZQ_CLICKHOUSE_URL", "ZQ_DATABASE_URL"):
            continue
        top, _, nested = name[3:].lower().partition("__")
        field = settings_cls.model_fields.get(top)
        section = field.annotation if field is not None else None
        is_section = isinstance(section, type) and issubclass(section, BaseModel)
        if field is None or (nested and is_section and nested not in section.model_fields):  # type: ignore[union-attr]
            raise ValueError(f"unknown setting in environment variable {name}")


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by ZQ_CONFIG (or ./zhouqu.yaml when present)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get("ZQ_CONFIG") or ("zhouqu.yaml" if Path("zhouqu.yaml").exists() else "")
        self.path = Path(path) if path else None
        self.data: dict[str, Any] = {}
        if self.path:
            loaded = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{self.path}: top level must be a mapping of settings")
            self.data = loaded

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        """Unused: values come from __call__."""
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def load_settings(**overrides: Any) -> Settings:
    """Load settings, naming the YAML file in the error when it is at fault."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        source = os.environ.get("ZQ_CONFIG") or "environment/zhouqu.yaml"
        raise SystemExit(f"invalid settings ({source}):\n{exc}") from None
