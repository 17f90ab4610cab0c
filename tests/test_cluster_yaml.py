"""cluster.yaml: every Ray node starts with token authentication, the shared token, fixed ports, loopback dashboard."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

CLUSTER = yaml.safe_load((Path(__file__).resolve().parent.parent / "cluster.yaml").read_text(encoding="utf-8"))
FIXED = ("--node-manager-port=", "--object-manager-port=", "--min-worker-port=", "--max-worker-port=",
         "--dashboard-agent-listen-port=", "--dashboard-agent-grpc-port=", "--runtime-env-agent-port=",
         "--metrics-export-port=")  # fmt: skip


def starts(key: str) -> list[str]:
    return [c for c in CLUSTER[key] if "ray start" in c]


def test_every_node_starts_with_token_auth_and_fixed_ports() -> None:
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        (command,) = starts(key)
        assert command.startswith("RAY_AUTH_MODE=token "), key
        for flag in FIXED:
            assert re.search(re.escape(flag) + r"\d+", command), (key, flag)
    (head,) = starts("head_start_ray_commands")
    assert "--dashboard-host=127.0.0.1" in head and "--port=6379" in head


def test_the_shared_token_reaches_every_node_private() -> None:
    assert CLUSTER["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert any("chmod 600 ~/.ray/auth_token" in c for c in CLUSTER["setup_commands"])
