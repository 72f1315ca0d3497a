"""Run directories: creation and compatibility checks, the metrics log, and loading a trained G."""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from torch import nn

from .checkpoint import list_checkpoints, load_checkpoint, load_latest
from .config import SECTIONS, Config, config_from_dict, flatten, resume_safe_keys
from .errors import GankitError
from .files import TEMP_SUFFIX, read_json_object, write_atomic
from .runlock import LOCK_NAME, RunLock

SAFE_KEYS = resume_safe_keys()  # keys that may change between a run and its resumption (config field metadata)


def config_diff(a: Config, b: Config) -> list[str]:
    """Dotted keys whose values differ between two configs, safe keys excluded."""
    fa, fb = flatten(a.to_dict()), flatten(b.to_dict())
    return sorted(k for k in set(fa) | set(fb) if k not in SAFE_KEYS and fa.get(k) != fb.get(k))


def set_aside(out: Path, paths: list[Path] | None = None) -> Path:
    """Move `paths` (default: all of a run's files but the lock and earlier set-asides) into OUT/aside-<time>/,
    keeping their relative paths; nothing is deleted. Returns that folder."""
    aside = out / time.strftime("aside-%Y%m%d-%H%M%S")
    aside.mkdir(exist_ok=True)
    if paths is None:
        paths = [p for p in out.iterdir() if p.name != LOCK_NAME and not p.name.startswith("aside-")]
    for p in paths:
        dest = aside / p.relative_to(out)
        dest.parent.mkdir(parents=True, exist_ok=True)
        p.rename(dest)
    return aside


DATA_IDENTITY = ("size", "shape", "num_classes", "fingerprint")  # what a resume must find unchanged


def check_same_data(out: Path, now: dict) -> None:
    """Refuse to resume run `out` on data other than it started on (size, shape, classes, content hash)."""
    info = out / "run.json"
    if not (out / "config.json").exists() or not info.exists():
        return
    try:
        was = json.loads(info.read_text())["dataset"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # an unreadable run.json is rewritten at the start; the config check still holds
    if not isinstance(was, dict) or all(was.get(k) == now.get(k) for k in DATA_IDENTITY if k in was):
        return

    def show(d: dict) -> str:
        where = " ".join(str(x) for x in (d.get("name", "?"), d.get("path")) if x)
        return (f"{where} {d.get('size')} items of shape {'x'.join(map(str, d.get('shape') or []))}, "
                f"{d.get('num_classes')} classes, fingerprint {d.get('fingerprint', '?')}")

    raise GankitError(f"--out {out} was trained on other data: it started on {show(was)}; the data now is {show(now)}. "
                      "Point --data at the run's data, or use another --out (or --restart) for the new data")


def prepare_run_dir(out: Path, cfg: Config, lock: Optional[RunLock] = None,
                    restart: bool = False) -> tuple[Config, Optional[Path]]:
    """Create `out` for a new run, or accept it for resuming the same run.

    Returns the config to train with (the schedule horizon made explicit: a new run's T is its
    kimg, a resumed run keeps its T even when --kimg grows) and the latest checkpoint, if any.
    A directory holding a different run, or files that are not a run, is refused before anything is written;
    `lock` is acquired before the first write (a second process on the same directory is refused there).
    restart: an existing run's files are moved into OUT/aside-<time>/ (nothing deleted) and a new run starts.
    """
    out = Path(out)
    cfg = config_from_dict(cfg.to_dict())
    if out.exists() and not out.is_dir():
        raise GankitError(f"--out {out} is a file; name a directory for the run")
    above = next((p for p in out.absolute().parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise GankitError(f"--out {out} lies under {above}, which is a file; name a directory for the run")
    cfg_path = out / "config.json"
    def leftover(name: str) -> bool:  # a first start killed before config.json's rename leaves a temp and a lock
        return name in (LOCK_NAME, "config.json.tmp") or name.startswith("aside-") or name.endswith(TEMP_SUFFIX)

    if out.is_dir() and any(not leftover(p.name) for p in out.iterdir()):
        if not cfg_path.exists():
            raise GankitError(f"--out {out} holds files but no gankit run; choose an empty or new directory")
    if restart and cfg_path.exists():
        if lock is not None:
            lock.acquire()
        set_aside(out)
    if out.is_dir() and cfg_path.exists():
        old = load_run_config(out)
        if cfg.train.horizon_kimg <= 0:
            cfg.train.horizon_kimg = old.train.horizon_kimg
        diff = config_diff(old, cfg)
        if diff:
            raise GankitError(f"--out {out} holds a different run (differs in {', '.join(diff)}); "
                              "choose another --out, or train with the same settings to resume it")
    if cfg.train.horizon_kimg <= 0:
        cfg.train.horizon_kimg = cfg.train.kimg
    out.mkdir(parents=True, exist_ok=True)
    if lock is not None and not lock.held:
        lock.acquire()
    write_atomic(cfg_path, cfg.to_json().encode())
    ckpts = list_checkpoints(out)
    return cfg, (ckpts[-1] if ckpts else None)


class MetricsLog:
    """Append-only JSON lines (RUN/metrics.jsonl); on resume, lines past the checkpoint are dropped."""

    def __init__(self, path: Path, resume_images: int = 0) -> None:
        self.path = Path(path)
        if self.path.exists():  # rewritten atomically: a kill during the rewrite leaves the old file whole
            keep = [ln for ln, rec in self._lines(self.path) if rec.get("images", 0) <= resume_images]
            write_atomic(self.path, "".join(ln + "\n" for ln in keep).encode())

    def write(self, record: dict[str, Any]) -> None:
        record = {"time": round(time.time(), 3), **record}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    @staticmethod
    def _lines(path: Path) -> list[tuple[str, dict[str, Any]]]:
        """(line, record) of every readable line; lines cut off by a kill mid-write (or damaged: not an object with a
        numeric kimg) are skipped with a warning."""
        out, bad = [], []
        for i, ln in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
            if ln.strip():
                try:
                    rec = json.loads(ln)
                except json.JSONDecodeError:
                    rec = None
                if isinstance(rec, dict) and isinstance(rec.get("kimg"), (int, float)) and not isinstance(rec["kimg"], bool):
                    out.append((ln, rec))
                else:
                    bad.append(i)
        if bad:
            warnings.warn(f"{path}: skipped {len(bad)} unreadable line(s) (line {', '.join(map(str, bad[:5]))}), "
                          "most likely a write cut off by a kill, or an edit")
        return out

    @staticmethod
    def read(path: Path) -> list[dict[str, Any]]:
        return [rec for _, rec in MetricsLog._lines(path)]


@dataclass
class RunTime:
    """How long a run took while it ran, read from its metrics log."""
    seconds: float  # training and snapshots; the time between a stop (or kill) and its resume is left out
    snapshots: list[float]  # each timed snapshot's metrics, in seconds (sample grids and checkpoints count as training)
    stretches: int  # uninterrupted stretches: 1 + the resumes
    untimed_snapshots: int  # metric records with no log line before them in their stretch: their time is unknown
    estimated_snapshots: int = 0  # of the timed ones, those from an older log (no snapshot_s): estimated from its rate

    @property
    def snapshot_seconds(self) -> float:
        return sum(self.snapshots)


def run_time(records: list[dict[str, Any]]) -> RunTime:
    """The wall time of a run's logged progress (MetricsLog.read). Each log line covers the images since the line
    before (or since its stretch began, at a resume or rollback event) at its logged img_per_s, which includes the
    snapshots in that interval. A snapshot's own time is its record's snapshot_s; in logs from before that was
    recorded, its record's time minus the end of the training before it (the last log line's time, the snapshots
    since, and the images since at that line's rate). A snapshot that ends a stretch is after every line: it is added."""
    seconds, snaps = 0.0, []
    start, last, stretches, untimed, pending, estimated = 0, None, 1, 0, 0.0, 0
    for r in records:
        event = r.get("event")
        if event is not None:
            if event in ("resume", "rollback", "stop", "diverged"):  # the interval (and the stretch) ends here
                seconds, pending, last = seconds + pending, 0.0, None
            if event in ("resume", "rollback"):  # the next starts at the checkpoint it loaded
                start, stretches = r["images"], stretches + (event == "resume")
            continue  # threads, metric_error: nothing to time
        if "img_per_s" in r:  # a log line: its interval includes the snapshots before it in this stretch
            seconds += (r["images"] - start) / r["img_per_s"] if r["img_per_s"] > 0 else 0.0
            start, last, pending = r["images"], r, 0.0
            continue
        if "snapshot_s" in r:
            dt = r["snapshot_s"]
        elif last is not None and last["img_per_s"] > 0:
            dt = r["time"] - last["time"] - pending - (r["images"] - last["images"]) / last["img_per_s"]
            estimated += 1
        else:
            untimed += 1
            continue
        snaps.append(dt)
        pending += dt
    return RunTime(seconds + pending, snaps, stretches, untimed, estimated)


def load_run_config(run_dir: Path) -> Config:
    """The resolved config of a run directory."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise GankitError(f"{run_dir} is not a gankit run (no config.json); pass the --out of a `gankit train`")
    try:
        d = read_json_object(path)
        bad = [s for s in SECTIONS if not isinstance(d.get(s, {}), dict)]
        if bad:
            raise ValueError(f"section {bad[0]} is a JSON {type(d[bad[0]]).__name__}, not an object")
    except ValueError as e:  # not JSON or not UTF-8 (both ValueErrors), or JSON that is not a config
        raise GankitError(f"{path} is damaged ({str(e).splitlines()[0][:200]}); restore it from a copy, or (train) pass "
                          "--restart to set the run aside and start over") from None
    return config_from_dict(d)


def run_precision(run_dir: str | Path, cfg: Config, device: Any) -> str:
    """The precision a run trains and samples in: with train.precision "auto", what run.json recorded once the run has
    a checkpoint (so a run made on a GPU or a bf16 CPU keeps its bf16 stages on a CPU without bf16 dot products, and the
    other way round), with a warning where this machine alone would choose otherwise; else what this machine resolves."""
    from .networks import precision_for

    here = precision_for(cfg, device)
    try:
        recorded = json.loads((Path(run_dir) / "run.json").read_text()).get("precision") \
            if cfg.train.precision == "auto" and list_checkpoints(run_dir) else None
    except (OSError, ValueError):
        recorded = None
    if recorded in ("fp32", "bf16") and recorded != here:
        warnings.warn(f"{run_dir} trained in {recorded} (train.precision=auto on the machine that started it); it stays "
                      f"{recorded} here, where auto would give {here} (--set train.precision={here} to change it)",
                      stacklevel=2)
        return recorded
    return here


def named_checkpoint(run_dir: Path, checkpoint: str) -> Path:
    """RUN/checkpoints/<checkpoint> (best, or a name such as ckpt-000386944; paths without suffix), or one line that
    lists the names the run has."""
    path = Path(run_dir) / "checkpoints" / checkpoint
    if not path.with_suffix(".json").exists():
        names = ["latest"] + (["best"] if (path.parent / "best.json").exists() else []) + \
            [p.name for p in list_checkpoints(run_dir)]
        raise GankitError(f"run {run_dir} has no checkpoint '{checkpoint}'; use one of {', '.join(names)}")
    return path


def load_snapshot(run_dir: Path, checkpoint: str = "latest", only: Optional[tuple[str, ...]] = None,
                  apply: Any = None) -> tuple[dict, dict, Path]:
    """(states, meta, path) of one of a run's checkpoints: the latest that loads and that `apply(states, meta)` accepts
    (damaged newer ones skipped with a warning), "best" or one named; one line where there is none."""
    if not list_checkpoints(run_dir):
        raise GankitError(f"run {run_dir} has no checkpoint yet; wait for its first snapshot")
    if checkpoint == "latest":
        latest = load_latest(run_dir, apply=apply, only=only)
        if latest is None:
            raise GankitError(f"no checkpoint of {run_dir} loads; see the warnings above for each one's problem")
        return latest
    path = named_checkpoint(run_dir, checkpoint)
    states, meta = load_checkpoint(path, only=only)
    if apply is not None:
        apply(states, meta)
    return states, meta, path


def load_generator(run_dir: str | Path, which: str = "G_ema", device: str = "cpu", checkpoint: str = "latest") -> nn.Module:
    """The generator of a run's checkpoint (the EMA one by default), in eval mode: the latest that loads, "best" (the
    snapshot with the best in-loop metric) or one named (ckpt-000386944). G.snapshot says which, and at how many images,
    so a number measured on it can say which snapshot it scores."""
    from .networks import NETWORKS, build_networks

    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    built: dict[str, nn.Module] = {}

    def apply(states: dict, meta: dict) -> None:  # a damaged newest checkpoint falls back to the one before
        G, _ = build_networks(cfg.model, tuple(meta["data_shape"]), int(meta["num_classes"]))
        G.load_state_dict(states[which])
        built["G"] = G

    _, meta, path = load_snapshot(run_dir, checkpoint, only=(which,), apply=apply)
    G = built["G"]
    G.snapshot = {"checkpoint": path.name, "images": int(meta["images"])}
    if NETWORKS.caps(cfg.model.arch).get("bf16"):  # the precision the run trained and sampled in on this device (G_ema as G)
        G.bf16 = run_precision(run_dir, cfg, device) == "bf16"
    if cfg.model.progressive:  # a growing G at the level and fade-in of the checkpoint's image count
        from .networks.progressive import growth, set_growth

        set_growth(G, *growth(int(meta["images"]), cfg.train.grow_kimg * 1000, G.levels))
    return G.to(device).eval().requires_grad_(False)
