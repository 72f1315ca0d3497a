"""What a run shows while it trains: every scalar to metrics.jsonl and TensorBoard, and a progress line.

Rank 0 owns the Monitor; on other ranks it is silent. TensorBoard's step is the number of real images
shown to D, so curves of runs with different batch sizes line up; on resume, events past the
checkpoint are purged (SummaryWriter purge_step), as the JSONL lines past it are dropped.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ..run import MetricsLog

GROUPS = {"loss_d": "loss", "loss_g": "loss", "r1": "penalty", "r2": "penalty", "logit_real": "logits",
          "logit_fake": "logits", "logit_gap": "logits", "lr": "schedule", "beta2": "schedule", "gamma": "schedule",
          "aug_p": "schedule", "ema_half_life": "schedule", "img_per_s": "speed", "data_wait": "speed",
          "snapshot_s": "speed"}


class Monitor:
    """metrics.jsonl + TensorBoard events + progress lines for one run directory."""

    def __init__(self, out: Path, resume_images: int, total: int, enabled: bool = True, tensorboard: bool = True,
                 progress: Callable[[str], None] = print) -> None:
        self.enabled, self.total, self.progress = enabled, total, progress
        self.log = MetricsLog(out / "metrics.jsonl", resume_images=resume_images) if enabled else None
        self.tb = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"), purge_step=resume_images or None)
        self.t_start, self.images_start = time.time(), resume_images

    def scalars(self, record: dict[str, Any]) -> None:
        """One JSONL line and one TensorBoard point per numeric value (step = images)."""
        if not self.enabled:
            return
        self.log.write(record)
        if self.tb is not None:
            for k, v in record.items():
                if k not in ("images", "kimg", "step", "time") and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"{GROUPS.get(k, 'metrics')}/{k}", v, record["images"])
            self.tb.flush()

    def event(self, kind: str, images: int, message: str, echo: bool = True, **fields: Any) -> None:
        """A run event (rollback, stop, resume) in the JSONL log, and in the progress output unless echo is off (an
        event the caller has already printed in its own words)."""
        if not self.enabled:
            return
        self.log.write({"images": images, "kimg": images / 1000, "event": kind, "message": message, **fields})
        if self.tb is not None:
            self.tb.add_text("events", f"{kind}: {message}", images)
        if echo:
            self.progress(f"{kind}: {message}")

    def info(self, message: str) -> None:
        """A progress line from rank 0."""
        if self.enabled:
            self.progress(message)

    def truncate(self, images: int) -> None:
        """Forget JSONL lines past `images` (after a rollback to that checkpoint)."""
        if self.enabled:
            self.log = MetricsLog(self.log.path, resume_images=images)

    def line(self, record: dict[str, float], images: int, extra: str = "") -> None:
        """Progress: a bar, kimg done/total, img/s, ETA and the losses."""
        if not self.enabled:
            return
        frac = min(images / self.total, 1.0) if self.total else 1.0
        bar = "#" * int(frac * 20) + "-" * (20 - int(frac * 20))
        rate = (images - self.images_start) / max(time.time() - self.t_start, 1e-9)
        eta = max(self.total - images, 0) / max(rate, 1e-9)
        self.progress(f"[{bar}] kimg {images / 1000:8.2f}/{self.total / 1000:g}  {record.get('img_per_s', rate):7.0f} img/s  "
                      f"ETA {_duration(eta)}  D {record['loss_d']:.3f}  G {record['loss_g']:.3f}  "
                      f"gap {record['logit_gap']:+.2f}" + extra)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m:2d}m{s:02d}s"

