"""Several runs' truncation sweeps (`gankit truncation ... --out DIR`) on one figure: FID against the threshold, and
precision against recall (the trade-off Brock et al. 2019 show for BigGAN).

    python scripts/truncation_compare.py LABEL=DIR [LABEL=DIR ...] --out FIGURE.png

Reads each DIR/truncation.csv (nothing is re-measured); prints the rows as one Markdown table.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def read_sweep(folder: Path) -> list[dict[str, float]]:
    """The rows of one sweep, as numbers; 0 is "no truncation"."""
    path = folder / "truncation.csv"
    if not path.is_file():
        sys.exit(f"{path} does not exist: run `gankit truncation --run RUN --metrics fid,pr --out {folder}` first")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    need = {"truncation", "fid", "pr_precision", "pr_recall"}
    if not rows or not need <= set(rows[0]):
        sys.exit(f"{path} lacks {', '.join(sorted(need - set(rows[0] if rows else ())))}: compare threshold sweeps "
                 "(not --psi-sweep) run with --metrics fid,pr")
    return [{k: float(v) for k, v in row.items()} for row in rows]


def table(sweeps: dict[str, list[dict[str, float]]]) -> str:
    """One Markdown row per (run, threshold), in the sweep's order."""
    lines = ["| run | threshold | FID | precision | recall |", "|---|---|---|---|---|"]
    for label, rows in sweeps.items():
        for r in rows:
            t = "none" if r["truncation"] == 0 else f"{r['truncation']:g}"
            lines.append(f"| {label} | {t} | {r['fid']:.1f} | {r['pr_precision']:.3f} | {r['pr_recall']:.3f} |")
    return "\n".join(lines)


def plot(sweeps: dict[str, list[dict[str, float]]], out: Path) -> None:
    """FID against the threshold (no truncation as a dashed level) and precision against recall, one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gankit.files import write_figure

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for label, rows in sweeps.items():
        cut = [r for r in rows if r["truncation"] > 0]
        line = a.plot([r["truncation"] for r in cut], [r["fid"] for r in cut], "o-", label=label)[0]
        full = [r for r in rows if r["truncation"] == 0]
        for r in full:  # no truncation: a dashed level, not a point at threshold 0
            a.axhline(r["fid"], color=line.get_color(), ls="--", lw=1)
        b.plot([r["pr_recall"] for r in rows], [r["pr_precision"] for r in rows], "o-", color=line.get_color(), label=label)
        for r in rows:
            b.annotate("none" if r["truncation"] == 0 else f"{r['truncation']:g}", (r["pr_recall"], r["pr_precision"]),
                       fontsize=7, xytext=(3, 3), textcoords="offset points")
    a.set(xlabel="truncation threshold (resample |z| above it)", ylabel="FID (dashed: no truncation)", title="FID")
    b.set(xlabel="recall", ylabel="precision", title="precision against recall (labels: threshold)")
    a.legend()
    b.legend()
    fig.tight_layout()
    write_figure(out, fig)
    plt.close(fig)


def main() -> None:
    """Read LABEL=DIR sweeps, draw the figure, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="+", help="LABEL=DIR")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    bad = [s for s in args.sweeps if "=" not in s]
    if bad:
        sys.exit(f"{bad[0]}: give each sweep as LABEL=DIR")
    labels = [s.split("=", 1)[0] for s in args.sweeps]
    if len(set(labels)) < len(labels):
        sys.exit(f"labels repeat ({', '.join(labels)}): give each sweep its own LABEL")
    sweeps = {s.split("=", 1)[0]: read_sweep(Path(s.split("=", 1)[1])) for s in args.sweeps}
    plot(sweeps, args.out)
    print(table(sweeps))


if __name__ == "__main__":
    main()
