"""Accounts, scope checks, audit and duty rosters live below the UI: loading them loads no Panel, Bokeh or actors."""

from __future__ import annotations

import json
import subprocess
import sys

BELOW_THE_UI = ("core.access", "adapters.accounts", "adapters.accounts_cli", "adapters.audit", "adapters.rosters")


def test_accounts_access_audit_and_rosters_import_without_the_ui_or_the_actors() -> None:
    probe = (
        f"import importlib, json, sys\nfor m in {BELOW_THE_UI!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert not set(json.loads(done.stdout)) & {"panel", "bokeh", "ops_center", "actors"}


def test_the_accounts_command_line_tool_runs_without_the_ui() -> None:
    done = subprocess.run([sys.executable, "-m", "adapters.accounts_cli", "--help"], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert "create-admin" in done.stdout
