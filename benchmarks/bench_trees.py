"""The same benchmark on several commits of gankit, taking turns, so a speed-up is measured side by side in one run.

    python benchmarks/bench_trees.py --rev before=315a62a --rev after=HEAD --rounds 3 -- \\
        python benchmarks/bench_step.py --preset r3gan-digits --batch 32 --steps 30 --channels-last

Each revision is checked out into a temporary git worktree; the command runs there (its own benchmarks/ and gankit/,
PYTHONPATH set to that tree), once per round in turn. The command must print one JSON line with the field named by
--field (default ms_per_step); the script prints each revision's values, their median and the ratio to the first.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", action="append", required=True, metavar="NAME=COMMIT", help="a revision to run (repeat)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--field", default="ms_per_step")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command, run in each tree")
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        raise SystemExit("give the command after --")
    revs = dict(r.split("=", 1) for r in a.rev)
    values: dict[str, list[float]] = {n: [] for n in revs}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {}
        for name, commit in revs.items():
            trees[name] = Path(tmp) / name
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(trees[name]), commit],
                           check=True, capture_output=True)
        try:
            for r in range(a.rounds):
                for name, tree in trees.items():
                    env = {**os.environ, "PYTHONPATH": str(tree)}
                    out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
                    if out.returncode:
                        raise SystemExit(f"{name} ({revs[name]}) failed:\n{out.stderr[-2000:]}")
                    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
                    values[name].append(float(json.loads(line)[a.field]))
                    print(json.dumps({"round": r, "rev": name, "commit": revs[name], a.field: values[name][-1]}), flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    first = statistics.median(values[next(iter(revs))])
    for name, v in values.items():
        med = statistics.median(v)
        print(json.dumps({"rev": name, "commit": revs[name], a.field: v, "median": med, "ratio_to_first": round(first / med, 3)}))


if __name__ == "__main__":
    sys.exit(main())
