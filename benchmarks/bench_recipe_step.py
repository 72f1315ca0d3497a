"""R3GAN's full step at the sizes `gankit train --data DIR --minutes M` picks on a CPU, on several commits side by side.

    python benchmarks/bench_recipe_step.py --rev before=055f2c2 --rev after=HEAD

For each size (32x32, conditional on 10 classes, the recipe's width ladder at base 64/128/256, batch 32/64, float32
and bf16, channels_last) it runs benchmarks/bench_step.py through benchmarks/bench_trees.py, so every commit is timed
in turn in the same run, and prints one markdown table row per size: each commit's median ms per step over the rounds
in each precision, and the last commit's speed-up in each precision over the first commit in the first precision
(today's float32 step). Time it on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gankit.recipe.plan import widths_for  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", action="append", required=True, metavar="NAME=COMMIT")
    ap.add_argument("--bases", default="64,128,256")
    ap.add_argument("--batches", default="32,64")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=320, help="images timed per measurement (steps = images / batch)")
    a = ap.parse_args()
    names = [r.split("=", 1)[0] for r in a.rev]
    precs = a.precisions.split(",")
    cols = [f"{n} {p}" for p in precs for n in names]
    extra = [f"{names[-1]} {p} vs {names[0]} {precs[0]}" for p in precs]
    print("| base widths | batch | " + " | ".join(f"{c} ms" for c in cols) + " | " + " | ".join(extra) + " |")
    print("|" + "---|" * (2 + len(cols) + len(extra)), flush=True)
    for base in map(int, a.bases.split(",")):
        widths, groups = widths_for(32, base)
        for batch in map(int, a.batches.split(",")):
            med: dict[str, list[float]] = {}
            for prec in precs:
                cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_trees.py"), "--rounds", str(a.rounds)]
                cmd += [x for r in a.rev for x in ("--rev", r)]
                cmd += ["--", sys.executable, "benchmarks/bench_step.py", "--preset", "r3gan-cifar10",
                        "--batch", str(batch), "--steps", str(max(3, a.images // batch)), "--warmup", "2",
                        "--channels-last", "--precision", prec, "--set", f"model.widths={json.dumps(widths)}",
                        "--set", f"model.groups={json.dumps(groups)}"]
                out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(out.stdout[-2000:] + out.stderr[-2000:])
                med[prec] = [json.loads(ln)["median"] for ln in out.stdout.splitlines() if ln.startswith('{"rev"')]
            base_ms = med[precs[0]][0]  # the first commit in the first precision: today's default
            print(f"| {widths} | {batch} | " + " | ".join(f"{m:.0f}" for p in precs for m in med[p]) + " | "
                  + " | ".join(f"{base_ms / med[p][-1]:.2f}x" for p in precs) + " |", flush=True)

if __name__ == "__main__":
    main()
