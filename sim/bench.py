"""Benchmarks that need no running platform: `python -m sim.bench ledgers --json [--backend sqlite|postgres]`.

The whole-platform benchmarks (pipeline, alarm, detector, video, ops) start the platform and live in
`python -m runtime.bench`, which offers `ledgers` too."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_ledgers_parser(sub: Any) -> None:
    """The `ledgers` sub-command's arguments (shared with runtime.bench)."""
    lg = sub.add_parser("ledgers", help="the synthetic county's Excel import, list pages, look-ups and statistics")
    lg.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both",
                    help="one backend (one JSON object) or both (a list of two)")  # fmt: skip
    lg.add_argument("--households", type=int, default=35_000)
    lg.add_argument("--requests", type=int, default=300, help="timed calls per measured query")
    lg.add_argument("--seed", type=int, default=0)
    lg.add_argument("--json", action="store_true", help="print one JSON line")


def run_ledgers(args: argparse.Namespace) -> Any:
    """Run the ledger benchmark with parsed arguments."""
    from sim.bench_ledgers import ledgers_bench

    return ledgers_bench(args.backend, args.households, args.requests, args.seed)


def add_workflows_parser(sub: Any) -> None:
    """The `workflows` sub-command's arguments."""
    wf = sub.add_parser("workflows", help="labour-subsidy applications through the workflow host's streams")
    wf.add_argument("--applications", type=int, default=10_000)
    wf.add_argument("--villages", type=int, default=60)
    wf.add_argument("--workers", type=int, default=3, help="officer processes")
    wf.add_argument("--concurrency", type=int, default=16, help="officers at once in each process")
    wf.add_argument("--json", action="store_true", help="print one JSON line")


def run_workflows(args: argparse.Namespace) -> Any:
    """Run the workflow benchmark with parsed arguments."""
    from sim.bench_workflows import workflows_bench

    return workflows_bench(args.applications, args.villages, args.workers, args.concurrency)


def main() -> None:
    """Parse the command line, run the benchmark, print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="bench", required=True)
    add_ledgers_parser(sub)
    add_workflows_parser(sub)
    args = parser.parse_args()
    result = run_workflows(args) if args.bench == "workflows" else run_ledgers(args)
    print(json.dumps(result, ensure_ascii=False) if args.json else json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
