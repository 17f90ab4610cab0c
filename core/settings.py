"""Platform settings: environment variables, an optional YAML file, loud failure on unknown keys."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic.networks import IPvAnyNetwork
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestSettings(_Section):
    """The device-facing HTTP/websocket gateway."""

    host: str = Field("127.0.0.1", description="Address the ingest gateway binds to.")
    port: int = Field(8710, description="TCP port of the HTTP and websocket ingest gateway.")
    max_body_bytes: int = Field(256 * 1024, description="Largest accepted request or websocket frame (else 413).")
    max_messages: int = Field(500, description="Most messages in one upload; more gets 413.")
    clock_skew_s: int = Field(300, description="Largest accepted gap between a request's signed timestamp and now.")
    rate_msgs_per_s: float = Field(50.0, description="Sustained messages/s allowed per device (token bucket).")
    rate_burst: float = Field(500.0, description="Token bucket size per device, in messages.")
    flush_ms: float = Field(5.0, description="Group-commit window: messages within it share one XADD per shard.")
    auth_failures_per_s: float = Field(
        0.2, gt=0, description="Failed authentications (401) forgiven per second per client address (token bucket)."
    )
    auth_failures_burst: float = Field(
        20.0, ge=1, description="Failed authentications an address may have at once before its requests get 429."
    )

    @model_validator(mode="after")
    def _burst_holds_a_batch(self) -> IngestSettings:
        if self.rate_burst < self.max_messages:
            raise ValueError(f"ingest.rate_burst ({self.rate_burst:g}) must be at least ingest.max_messages")
        return self


class WatchSettings(_Section):
    """TCP server for the 3G/4G elderly watch text protocol."""

    host: str = Field("127.0.0.1", description="Address the watch protocol server binds to.")
    port: int = Field(8711, description="TCP port of the watch protocol server.")
    idle_timeout_s: int = Field(900, description="Close a watch connection silent for this long.")
    max_frame_bytes: int = Field(8192, description="Largest watch frame; a longer one closes the connection.")
    allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="CIDR blocks watches may connect from (e.g. the carrier's APN range); empty allows any address.",
    )
    max_connections: int = Field(10_000, ge=1, description="Most open watch connections; more are closed at once.")


class StreamRetention(_Section):
    """How long one stream keeps entries; an entry a consumer group has not read or acknowledged always stays."""

    max_age_s: int = Field(
        ge=0, description="Entries older than this go (0: once every group acknowledged them; kept while no group)."
    )
    max_len: int | None = Field(
        None, ge=1, description="Also keep at most this many entries; only on streams no consumer group reads."
    )


def _default_retention() -> dict[str, StreamRetention]:
    day = 86_400
    return {
        "tele": StreamRetention(max_age_s=0),  # tele.<kind>.<shard>: ClickHouse holds the rows
        "store": StreamRetention(max_age_s=0),
        "events": StreamRetention(max_age_s=3_600),
        "commands": StreamRetention(max_age_s=day),  # each transition is in ticket_events
        "reports": StreamRetention(max_age_s=day),
        "dispatch": StreamRetention(max_age_s=0),
        "speaker": StreamRetention(max_age_s=0),
        "incidents": StreamRetention(max_age_s=7 * day, max_len=200_000),
        "command_results": StreamRetention(max_age_s=3_600, max_len=100_000),
        "audit": StreamRetention(max_age_s=30 * day, max_len=500_000),  # zq.audit_log keeps it for the TTL
        "dead": StreamRetention(max_age_s=30 * day, max_len=100_000),
    }


class BusSettings(_Section):
    """Redis Streams behaviour shared by every consumer."""

    max_deliveries: int = Field(5, description="Deliveries after which an entry goes to the dead-letter stream.")
    claim_idle_ms: int = Field(
        30_000, description="Pending entries idle this long are reclaimed from dead consumers (XAUTOCLAIM)."
    )
    block_ms: int = Field(200, description="How long a consumer blocks waiting for new entries.")
    read_count: int = Field(200, description="Most stream entries read in one call.")
    retention: dict[str, StreamRetention] = Field(
        default_factory=_default_retention,
        description="Retention per stream (a name, or its part before the first dot: `tele`); every stream has one.",
    )
    closed_ticket_keep_s: int = Field(
        86_400, ge=0, description="Closed or merged tickets stay in the desk, `tickets` hash and live state this long."
    )


class SinkSettings(_Section):
    """The ClickHouse telemetry sink."""

    flush_ms: int = Field(500, description="Longest wait before a partial batch is written.")
    max_entries: int = Field(2000, description="Most store-stream entries written in one insert round.")
    ttl_days: int = Field(730, ge=1, le=10 * 365, description="Rows older than this are dropped by ClickHouse TTL.")
    outage_backoff_max_s: float = Field(
        10.0, gt=0, description="Longest wait between tries while ClickHouse is down (doubling from flush_ms)."
    )


class PushSettings(_Section):
    """The responder push websocket, its responder page, photo uploads and the SMS fallback."""

    host: str = Field("127.0.0.1", description="Address the push websocket server and the responder page bind to.")
    port: int = Field(8720, description="TCP port of the push websocket server (path /push); 0 picks a free one.")
    page_port: int = Field(8721, description="TCP port of the responder page app (/responder); 0 picks a free one.")
    public_push_url: str = Field(
        "", description="Websocket URL the responder page connects to (behind a proxy); empty means same host, `port`."
    )
    allowed_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8721", "http://localhost:8721"],
        description="Origin header values allowed to open the push websocket (the responder page's own origin).",
    )
    allow_missing_origin: bool = Field(
        False, description="Accept websocket handshakes without an Origin header (native apps); off by default."
    )
    sms_after_s: float = Field(
        60.0, gt=0, description="An unacknowledged dispatch of a user with no live connection goes to SMS after this."
    )
    sms_check_s: float = Field(1.0, gt=0, description="How often offline dispatches and presence are checked.")
    consumer: str = Field("push-0", description="Consumer name of this push service in the `dispatch` stream group.")
    var_dir: Path = Field(Path("var"), description="Directory for the SMS outbox file and uploaded photos.")
    max_message_bytes: int = Field(64 * 1024, description="Largest websocket message accepted from a phone.")
    max_photo_bytes: int = Field(5 * 1024 * 1024, description="Largest photo upload; a larger one gets 413.")
    photo_retention_days: float = Field(90, gt=0, description="Uploaded photos older than this are deleted.")
    sms_retention_days: float = Field(
        30, gt=0, description="SMS outbox lines older than this are dropped from the outbox file."
    )
    record_ttl_s: int = Field(
        30 * 86400,
        description="How long ack and SMS records of a dispatch, who holds a ticket, and an unacknowledged dispatch "
        "are kept.",
    )
    token_ttl_s: int = Field(
        30 * 86400, gt=0, description="A phone token expires this long after it was issued (re-issue on /admin)."
    )


_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_DETECTOR_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class DeploymentSettings(_Section):
    """Replica, batching and placement options shared by every Serve model deployment."""

    replicas: int = Field(1, ge=1, description="Replicas of this deployment.")
    num_cpus: float = Field(
        0.0, ge=0, description="CPUs Ray reserves per replica (scheduling only; onnxruntime threads are separate)."
    )
    num_gpus: float = Field(0.0, ge=0, description="GPUs per replica; > 0 runs onnxruntime's CUDA provider there.")
    intra_op_threads: int = Field(
        0, ge=0, description="onnxruntime intra-op threads per replica; 0 means every core the replica may use."
    )
    max_batch_size: int = Field(
        4, ge=1, description="Most requests @serve.batch runs as one batch (two batches run at once); raise it on GPUs."
    )
    batch_wait_timeout_s: float = Field(
        0.01, ge=0, le=5, description="Longest wait for a batch to fill before a partial batch runs."
    )
    max_ongoing_requests: int = Field(
        128, ge=1, description="Requests one replica accepts at once; must be at least 2 x max_batch_size."
    )
    max_queued_requests: int = Field(
        1024, ge=-1, description="Requests a caller queues when all replicas are full (-1: unbounded); then it fails."
    )


class DetectorSettings(DeploymentSettings):
    """One Detector deployment: a YOLO-format ONNX detector and its thresholds."""

    model_path: Path | None = Field(
        None, description="ONNX file; unset means <serve.models_dir>/<name>/model.onnx (relative to the project)."
    )
    conf: float = Field(0.25, ge=0, le=1, description="Lowest class score a detection keeps.")
    iou: float = Field(0.45, gt=0, le=1, description="IoU above which NMS drops the weaker box of the same class.")
    max_detections: int = Field(100, ge=1, description="Most detections returned per frame.")


class PlateReaderSettings(DeploymentSettings):
    """The PlateReader deployment: PP-OCR det/cls/rec ONNX models and plate validation."""

    det_model: Path | None = Field(None, description="Text detection ONNX; unset means <models_dir>/ppocr/det.onnx.")
    cls_model: Path | None = Field(None, description="Text direction ONNX; unset means <models_dir>/ppocr/cls.onnx.")
    rec_model: Path | None = Field(None, description="Text recognition ONNX; unset means <models_dir>/ppocr/rec.onnx.")
    min_score: float = Field(0.5, ge=0, le=1, description="Lowest recognition confidence a plate read keeps.")
    det_limit_side_len: int = Field(
        160, ge=32, le=2048, description="Text detection scales a crop's short side up to this many pixels."
    )


def _default_detectors() -> dict[str, DetectorSettings]:
    return {"scene": DetectorSettings(), "fall": DetectorSettings(conf=0.4)}


class ServeSettings(_Section):
    """Ray Serve model deployments: one Detector application per model and the PlateReader."""

    enabled: bool = Field(
        True, description="Run the model deployments, and with them the camera and station hosts, on platform start."
    )
    models_dir: Path = Field(
        Path("serve/models"), description="Directory of model folders; a relative path is taken from the project root."
    )
    detectors: dict[str, DetectorSettings] = Field(
        default_factory=_default_detectors,
        description="Detector deployments by name (application detector-<name>); the keys are model names.",
    )
    plate_reader: PlateReaderSettings = Field(
        default_factory=PlateReaderSettings, description="PlateReader deployment settings."
    )

    @model_validator(mode="after")
    def _names_and_batching(self) -> ServeSettings:
        for name in self.detectors:
            if not _DETECTOR_NAME.match(name):
                raise ValueError(f"serve.detectors.{name}: name must be lowercase letters, digits, '-' or '_'")
        sections: dict[str, DeploymentSettings] = {f"serve.detectors.{n}": d for n, d in self.detectors.items()}
        sections["serve.plate_reader"] = self.plate_reader
        for where, dep in sections.items():
            if dep.max_ongoing_requests < 2 * dep.max_batch_size:
                raise ValueError(
                    f"{where}: max_ongoing_requests ({dep.max_ongoing_requests}) must be at least "
                    f"2 x max_batch_size ({dep.max_batch_size}) or batches never fill"
                )
        return self

    def resolve(self, path: Path) -> Path:
        """An absolute path: relative ones are taken from the project root, not the working directory."""
        return path if path.is_absolute() else _PROJECT_ROOT / path

    def detector_model(self, name: str) -> Path:
        """The ONNX file of detector `name`."""
        det = self.detectors[name]
        return self.resolve(det.model_path or self.models_dir / name / "model.onnx")

    def plate_models(self) -> dict[str, Path]:
        """The PP-OCR det/cls/rec ONNX files of the plate reader."""
        pr, base = self.plate_reader, self.models_dir / "ppocr"
        return {
            "det": self.resolve(pr.det_model or base / "det.onnx"),
            "cls": self.resolve(pr.cls_model or base / "cls.onnx"),
            "rec": self.resolve(pr.rec_model or base / "rec.onnx"),
        }


class SpeakerSettings(_Section):
    """Synthesis, delivery and retry options of the speaker service."""

    voice: str = Field("cmn", min_length=1, description="espeak-ng voice (cmn: Mandarin Chinese).")
    words_per_min: int = Field(150, ge=80, le=400, description="Speaking rate passed to espeak-ng (-s).")
    synth_timeout_s: float = Field(20.0, gt=0, description="Longest espeak-ng run before it is killed.")
    post_timeout_s: float = Field(5.0, gt=0, description="Longest wait for one POST to a station's speaker.")
    attempts: int = Field(3, ge=1, le=10, description="POST attempts per warning before it is dead-lettered.")
    backoff_s: float = Field(0.5, ge=0, description="Wait before the second attempt; doubles for each later one.")
    consumer: str = Field("speaker-0", min_length=1, description="Consumer name in the `speaker` stream group.")
    stale_s: float = Field(
        120.0, gt=0, description="A warning about an event older than this is logged, not played (the vehicle is gone)."
    )
    done_ttl_s: int = Field(7 * 86400, ge=60, description="How long a delivered request key is remembered (dedup).")


class OpsSettings(_Section):
    """The operations center (Panel app): where it listens, sessions, lockout and the optional basemap."""

    host: str = Field("127.0.0.1", description="Address the operations center binds to.")
    port: int = Field(8730, ge=0, description="TCP port of the operations center; 0 picks a free one.")
    enabled: bool = Field(True, description="Start the operations center with the platform.")
    public_origins: list[str] = Field(
        default_factory=list,
        description="Extra host:port values browsers use to reach the app behind a proxy (websocket origin check).",
    )
    idle_timeout_s: int = Field(900, ge=60, description="A login session with no activity for this long ends.")
    max_failed_logins: int = Field(5, ge=1, description="Failed logins in a row after which an account locks.")
    lockout_s: int = Field(900, ge=60, description="How long a locked account stays locked.")
    min_password_length: int = Field(10, ge=8, description="Shortest password accepted (等保 level 2 asks for 8+).")
    tile_url: str = Field(
        "",
        description="Basemap tile URL template ({X}/{Y}/{Z} or WMTS KVP); empty draws the map offline without tiles.",
    )
    live_interval_ms: int = Field(1000, ge=200, description="How often live state is read and pushed to browsers.")
    session_check_s: float = Field(5.0, gt=0, description="How often a browser session checks its login is alive.")
    max_session_s: int = Field(
        8 * 3600, ge=300, description="A login session ends this long after sign-in whatever its activity (kiosks too)."
    )
    login_threads: int = Field(
        2, ge=1, description="Threads that verify passwords (argon2) off the event loop; further logins wait a turn."
    )
    login_per_address_per_min: int = Field(
        30, ge=1, description="Login attempts one client address may make per minute (any accounts); more get 429."
    )


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
        if not name.startswith("ZQ_") or name in ("ZQ_CONFIG", "ZQ_REDIS_URL", "ZQ_CLICKHOUSE_URL"):
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
