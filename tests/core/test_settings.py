"""Settings: environment and YAML sources, loud failure on unknown keys naming the file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from core.settings import Settings, load_settings


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("CLICKHOUSE_URL", raising=False)
    s = Settings()
    assert s.redis_url is None
    assert s.clickhouse_url is None
    assert s.shard_count("wristband") == 2
    assert s.shard_count("unlisted") == 1


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://10.0.0.5:6379/0")
    monkeypatch.setenv("CLICKHOUSE_URL", "http://ch:8123")
    monkeypatch.setenv("ZQ_INGEST__PORT", "9100")
    s = Settings()
    assert s.redis_url == "redis://10.0.0.5:6379/0"
    assert s.clickhouse_url == "http://ch:8123"
    assert s.ingest.port == 9100


def test_yaml_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "zhouqu.yaml"
    cfg.write_text("watch:\n  port: 9200\nshards:\n  wristband: 4\n", encoding="utf-8")
    monkeypatch.setenv("ZQ_CONFIG", str(cfg))
    s = Settings()
    assert s.watch.port == 9200
    assert s.shard_count("wristband") == 4


def test_unknown_key_in_yaml_fails_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("ingest:\n  prot: 9000\n", encoding="utf-8")
    monkeypatch.setenv("ZQ_CONFIG", str(cfg))
    with pytest.raises(SystemExit) as err:
        load_settings()
    assert "bad.yaml" in str(err.value)
    assert "prot" in str(err.value)


def test_unknown_top_level_key_is_an_error() -> None:
    with pytest.raises(ValidationError):
        Settings(redis_urll="redis://x")  # type: ignore[call-arg]


def test_yaml_that_is_not_a_mapping_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- a\n- b\n", encoding="utf-8")
    monkeypatch.setenv("ZQ_CONFIG", str(cfg))
    with pytest.raises(ValueError, match=r"list\.yaml"):
        Settings()


def test_a_burst_smaller_than_a_batch_is_refused() -> None:
    with pytest.raises(ValidationError, match="rate_burst"):
        Settings(ingest={"rate_burst": 10, "max_messages": 500})  # type: ignore[arg-type]


def test_master_key_is_not_printed() -> None:
    s = Settings(device_master_key="very-secret-key")  # type: ignore[arg-type]
    assert "very-secret-key" not in repr(s)
    assert "very-secret-key" not in s.model_dump_json()


@pytest.mark.parametrize("name", ["ZQ_INGST__PORT", "ZQ_INGEST__PRT", "ZQ_NOPE"])
def test_unknown_environment_variable_fails_naming_it(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "1")
    with pytest.raises(ValueError, match=name):
        Settings()


def test_each_section_has_its_own_module_and_no_copies_elsewhere() -> None:
    sections = {name: f.annotation for name, f in Settings.model_fields.items()}
    modules = {name: t.__module__ for name, t in sections.items() if isinstance(t, type) and issubclass(t, BaseModel)}
    assert modules and all(module == f"core.settings.{name}" for name, module in modules.items()), modules
    assert importlib.util.find_spec("adapters.push.settings") is None
    assert importlib.util.find_spec("adapters.speaker.settings") is None
