"""`gankit plot RUN_DIR`: PNG plots of a run's log against kimg (losses, penalties, logit gap, metrics, speed)."""
from __future__ import annotations

from pathlib import Path

from ..errors import GankitError
from ..files import write_figure
from ..run import MetricsLog

PANELS = {  # file -> keys drawn in it (those present in the log)
    "losses": ["loss_d", "loss_g"],
    "penalties": ["r1", "r2"],
    "logits": ["logit_real", "logit_fake", "logit_gap"],
    "schedule": ["lr", "gamma", "aug_p"],
    "speed": ["img_per_s"],
    "growth": ["grow_level", "grow_alpha"],
}
_SKIP = {"images", "kimg", "step", "time", "event", "message", "rollbacks", "lr_scale", "snapshot_s"}


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write one PNG per panel (and one for the snapshot metrics) into out_dir (default RUN/plots); returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    path = run_dir / "metrics.jsonl"
    records = MetricsLog.read(path) if path.exists() else []
    if not records:
        raise GankitError(f"{run_dir} has no metrics.jsonl records; pass the directory of a `gankit train` run")
    out_dir = Path(out_dir) if out_dir else run_dir / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    events = [r for r in records if "event" in r]
    scalars = [r for r in records if "event" not in r]
    step_keys = {k for r in scalars if "loss_d" in r for k in r}
    metric_keys = sorted({k for r in scalars if "loss_d" not in r for k in r} - _SKIP)
    panels = {name: [k for k in keys if k in step_keys] for name, keys in PANELS.items()}
    panels["metrics"] = metric_keys
    written = []
    for name, keys in panels.items():
        keys = [k for k in keys if any(isinstance(r.get(k), (int, float)) for r in scalars)]
        if not keys:
            continue
        fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), sharex=True, squeeze=False)
        for ax, key in zip(axes[:, 0], keys):
            pts = [(r["kimg"], r[key]) for r in scalars if isinstance(r.get(key), (int, float))]
            ax.plot(*zip(*pts), marker="o" if len(pts) < 30 else None, ms=3)
            ax.set_ylabel(key)
            ax.grid(alpha=0.3)
            for e in events:
                ax.axvline(e["kimg"], color="red" if e["event"] == "rollback" else "gray", ls="--", lw=1)
        axes[-1, 0].set_xlabel("kimg (thousands of real images shown to D)")
        written.append(save_figure(fig, out_dir / f"{name}.png",
                                   f"{run_dir.name}: {name}" + (f" ({len(events)} events, dashed)" if events else "")))
    return written


def save_figure(fig, path: Path, title: str = "") -> Path:
    """Title, tight layout, a 100-dpi PNG at path; the figure is closed. Returns path."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    write_figure(path, fig)
    plt.close(fig)
    return path
