"""Chaos soak: ``up`` on real services under a steady mixed load while a seeded driver
injects faults, then a Jepsen-style account (docs/reliability.md, "The chaos soak").

    python bench/soak.py --minutes 10 --seed 7 [--rate 6]

The load is summaries, embeddings, 3-4 s spoken clips to transcribe and enrich chains
through the HTTP API; the faults are SIGKILLs of a pool child, a worker, the relay and
the API, a broker stop_app/start_app, a Postgres restart, cut database connections and a
memory alarm, each at least twice by default (``--each``), ``--faults`` in all. The same
seed injects the same faults in the same order. Prints the machine line, the account as
a table, and as its last line one JSON object; exits 1 if an invariant fails (lost,
unfinished, duplicated, incomplete, stuck, held must be 0 and the ledger balanced).
The implementation lives in ``tests/support/soak/`` and is shared with the CI test.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _machine import machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.soak

from support.soak import runner
from support.soak.report import table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=6.0, help="submissions per second")
    parser.add_argument("--faults", type=int, default=28, help="faults in all")
    parser.add_argument("--each", type=int, default=2, help="faults of every kind, at least")
    parser.add_argument("--drain", type=float, default=300.0, help="longest drain, seconds")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep its logs")
    args = parser.parse_args()
    config = runner.SoakConfig(
        minutes=args.minutes,
        seed=args.seed,
        rate=args.rate,
        faults=args.faults,
        each=args.each,
        drain_s=args.drain,
    )
    before = machine()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        result = runner.run(config, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
            result = runner.run(config, Path(tmp))
    after = machine()
    result |= {**before, "load_avg_1m_end": after["load_avg_1m"]}
    broken = runner.broken(result, min_faults=args.faults, each=args.each)
    print("\n".join(result.pop("fault_log")))
    print(table(result, broken))
    result["invariants_hold"] = not broken
    print(json.dumps(result, default=str))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
