"""Instructions per event: the engine's cost, counted, where `make bench` can only time it.

This machine's speed drifts by a third within minutes, so a change worth a few percent is lost in
the noise of events/s and even of CPU seconds per event. ``valgrind --tool=callgrind`` counts the
instructions the worker executes (all its threads), whatever else the machine is doing. The worker
runs the bench's c32 phase twice under it, with SMALL and LARGE events, and the difference of the
two totals divided by the difference of the events is the cost of one event, with start-up and
shutdown cancelled out. It does not drift with the machine's speed as time does, but how events
fall into group commits and coalesced reads still depends on timing: runs of the same code have
differed by up to 4%, so compare several runs when a change is worth only a few percent.

It counts instructions, not time: a change that saves cache misses rather than instructions
(e.g. an index written at its end instead of at a random page) shows in `make bench`, not here.
The worker runs some 50 times slower under valgrind, so the figures are for comparing code, not
for its speed. Needs valgrind (Debian: ``apt-get install valgrind``).

    python -m benchmarks.instructions single_hop quote_to_order
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.run import ROOT, SIZES, Bench

SMALL, LARGE = 200, 600


def _totals(out_file: Path) -> int:
    for line in out_file.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"{out_file}: callgrind wrote no totals")


def count(workflow: str, events: int) -> int:
    """The worker's instructions (start-up, ``events`` webhooks at concurrency 32, shutdown)."""
    with tempfile.TemporaryDirectory(prefix=f"instructions-{workflow}-") as tmp:
        out_file = Path(tmp) / "callgrind.out"
        prefix = ("valgrind", "--tool=callgrind", "--dump-instr=no", f"--callgrind-out-file={out_file}")
        bench = Bench(workflow, Path(tmp), worker_prefix=prefix, start_s=600)
        try:
            bench.phase(events, 32, 0, 0)
        finally:
            bench.close(stop_s=600)  # callgrind writes its counts at exit: never kill it
        return _totals(out_file)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions",
        description="Count the engine's instructions per event under callgrind and print one JSON object.")
    parser.add_argument("workflows", nargs="*", metavar="WORKFLOW", help=f"any of {', '.join(SIZES)} (default: all)")
    only = parser.parse_args().workflows or list(SIZES)
    unknown = [name for name in only if name not in SIZES]
    if unknown:
        parser.error(f"unknown workflow {', '.join(unknown)}: choose from {', '.join(SIZES)}")
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    for package in ("opsconsole", "connectors", "canonical"):  # else the first run also counts compiling them
        compileall.compile_dir(ROOT / package, quiet=1)
    out = {}
    for workflow in only:
        small, large = count(workflow, SMALL), count(workflow, LARGE)
        out[workflow] = {"instructions_per_event": round((large - small) / (LARGE - SMALL)),
                         f"instructions_{SMALL}_events": small, f"instructions_{LARGE}_events": large}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
