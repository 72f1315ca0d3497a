"""Does D run away? R1 (D's squared input-gradient norm on reals, as logged) and the snapshots' FID against images
seen, for runs given as LABEL=RUN_OR_CELL (a run folder, or a shipped cell folder holding metrics.jsonl):

    python scripts/d_runaway.py ref=docs/results/cifar10_cpu/cells/cifar10/r3gan/default/seed43 \
        flat=docs/results/gamma_rule/cifar10-cpu-gamma/cells/cifar10/r3gan-gamma0.001-flat/default/seed43 \
        --out docs/results/gamma_rule/cifar10-cpu-gamma/runaway.png

Prints, per run, R1 (and D's logit gap, real minus fake) at each quarter of the run and the snapshots' FID, as a
markdown table; draws both against kimg (R1 on a log axis).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gankit.lab.experiment import cell_run
from gankit.run import MetricsLog
from study_convergence import read_cell  # scripts/ is on the path when this runs as `python scripts/d_runaway.py`


def read(folder: Path) -> tuple[list[dict], list[dict]]:
    """(training log lines with r1, snapshot rows with fid) of a run or a shipped cell, in order of kimg; a resumed
    run's repeated lines and snapshots are merged (read_cell), one per kimg."""
    run = cell_run(folder)
    lines = {r["kimg"]: r for r in MetricsLog.read(run / "metrics.jsonl") if "r1" in r}  # the last of a repeated line
    return [lines[k] for k in sorted(lines)], [s for s in read_cell(run)[0] if "fid" in s]


def at(lines: list[dict], kimg: float) -> str:
    """R1 (logit gap) of the last log line at or before `kimg`; "-" where the log starts later."""
    inside = [r for r in lines if r["kimg"] <= kimg + 1e-9]
    return f"{inside[-1]['r1']:.3g} ({inside[-1]['logit_gap']:+.2f})" if inside else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="LABEL=FOLDER")
    ap.add_argument("--out", type=Path, help="the figure (PNG)")
    args = ap.parse_args()
    runs = {lab: read(Path(p)) for lab, p in (a.split("=", 1) for a in args.runs)}
    print("| run | R1 (logit gap) at 1/4, 1/2, 3/4, end | max R1 | gamma at the end | FID (1k) at the snapshots |")
    print("|---|---|---|---|---|")
    for lab, (lines, snaps) in runs.items():
        end = lines[-1]["kimg"]
        qs = ", ".join(at(lines, end * q) for q in (.25, .5, .75, 1))
        print(f"| {lab} | {qs} | {max(r['r1'] for r in lines):.3g} | {lines[-1]['gamma']:.2g} | "
              f"{', '.join(format(s['fid'], '.1f') for s in snaps)} |")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from gankit.lab.plot import save_figure

        with_fid = any(snaps for _, snaps in runs.values())  # no snapshot yet in any run: the R1 panel alone
        fig, axes = plt.subplots(1, 2 if with_fid else 1, figsize=(10 if with_fid else 5.5, 3.8), squeeze=False)
        a1 = axes[0][0]
        for lab, (lines, snaps) in runs.items():
            a1.plot([r["kimg"] for r in lines], [r["r1"] for r in lines], label=lab)
            if with_fid:
                axes[0][1].plot([s["kimg"] for s in snaps], [s["fid"] for s in snaps], "o-", label=lab)
        a1.set(yscale="log", xlabel="kimg", ylabel="R1 (squared gradient norm on reals)")
        a1.legend(fontsize=8)
        if with_fid:
            axes[0][1].set(xlabel="kimg", ylabel="FID (1000 samples)")
            axes[0][1].legend(fontsize=8)
        save_figure(fig, args.out)


if __name__ == "__main__":
    main()
