"""What a second engine process could buy on this machine: a ceiling, measured.

One engine's event loop is the bound of `make bench` (docs/engine.md). Engines that shared a store
would have to share its write lock and hand runs over to the process owning their account; this
measures the best case, with none of that: N workers, each with a store and an ingress of its own,
the same sandboxes, the sender dealing events out in turn. It runs the c32 phase with 1 engine and
with N, alternating, and prints events/s and the CPU per event of the engines together, the
sandboxes and the sender, with the machine's idle share: when the machine has no idle time left,
more engines cannot help, however the store is shared.

    python -m benchmarks.engines quote_to_order --engines 2 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.run import SIZES, Bench


def measure(workflow: str, engines: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"engines-{workflow}-") as tmp:
        bench = Bench(workflow, Path(tmp), engines=engines)
        try:
            _lat, rate, _seq, cpu_ms = bench.phase(SIZES[workflow][1], 32, 0, 0)
        finally:
            bench.close()
    return {"engines": engines, "events_per_s": round(rate, 1), "engines_cpu_ms_per_event": cpu_ms["engine"],
            "sandboxes_cpu_ms_per_event": cpu_ms["sandboxes"], "sender_cpu_ms_per_event": cpu_ms["sender"],
            **cpu_ms["machine"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.engines",
        description="Events/s at c32 with one engine and with N engines on stores of their own (a ceiling "
                    "for engines sharing one store); prints one JSON object.")
    parser.add_argument("workflows", nargs="*", metavar="WORKFLOW", help=f"any of {', '.join(SIZES)} (default: all)")
    parser.add_argument("--engines", type=int, default=2, help="engines in the second configuration (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="pairs to run; the order alternates (default 1)")
    args = parser.parse_args()
    unknown = [name for name in args.workflows if name not in SIZES]
    if unknown:
        parser.error(f"unknown workflow {', '.join(unknown)}: choose from {', '.join(SIZES)}")
    if args.engines < 2:
        parser.error("--engines must be at least 2")
    out: dict[str, list] = {}
    for workflow in args.workflows or list(SIZES):
        runs = out.setdefault(workflow, [])
        for i in range(args.rounds):
            for engines in ((1, args.engines) if i % 2 == 0 else (args.engines, 1)):
                runs.append(measure(workflow, engines))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
