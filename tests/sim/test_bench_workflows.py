"""The workflow benchmark on a few applications: every command answered, none applied twice."""

from __future__ import annotations

from sim.bench_workflows import run_one


def test_small_workflow_bench_loses_and_doubles_nothing() -> None:
    out = run_one("sqlite", applications=50, villages_n=5, workers=1, concurrency=4)
    assert out["lost"] == 0 and out["double_applied"] == 0
    assert out["approved"] > 0 and out["approved"] == out["applications"] - out["applications"] // 12 - 1
    assert out["escalations"] == 1  # the one application left in village review breached its SLA
