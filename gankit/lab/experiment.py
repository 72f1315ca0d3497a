"""`gankit experiment NAME`: a declared grid (datasets x methods x hyperparameters x seeds) of training runs.

Every cell is one `gankit train` run in its own process, in OUT/NAME/<dataset>/<method>/<params>/seed<S>/run
(beside it the cell's train.log and result.json).
A cell is finished when its result.json says ok (metrics of the final snapshot) or diverged (where it did).
Re-running the command skips finished cells, resumes unfinished ones from their checkpoints and tries failed ones
again. A study may declare a final metric (`Final`): one `gankit eval` of each finished cell's last checkpoint,
outside the training minutes, kept in final.json beside result.json and computed for any finished cell that lacks it. The collected table has
one row per cell (results.csv) and one per configuration with mean +- std over seeds (summary.csv, summary.md),
and a plot per dataset of the chosen quality and coverage metrics.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..checkpoint import list_checkpoints
from ..errors import GankitError
from ..files import write_atomic, write_json
from .final import Final, measure_final, needs_final, read_final
from .plots import plot_curves, plot_final, plot_samples
from ..registry import Registry
from ..run import MetricsLog
from ..training.cores import usable_cores

EXPERIMENTS = Registry("experiment")


@dataclass
class Method:
    """A method: config overrides for all its cells, and the keys it sweeps (their cartesian product)."""

    name: str
    sets: dict[str, Any]
    grid: dict[str, list] = field(default_factory=dict)
    short: dict[str, str] = field(default_factory=dict)  # swept key -> column name ("model.heads" -> "K")
    # train.kimg (and snapshot_kimg, horizon_kimg) times this: e.g. 5 for WGAN-GP's n_critic = 5, so that its G takes
    # as many steps as the others' in a study that equalises G steps rather than real images
    kimg_scale: float = 1.0
    seeds: list[int] | None = None  # its own seeds (e.g. fewer for a costly arm); None: the experiment's
    # keys tied to a swept one: {"loss.gamma_final": ("loss.gamma", 0.1)} sets gamma_final to 0.1 x each cell's gamma
    tied: dict[str, tuple[str, float]] = field(default_factory=dict)
    # its own preset instead of the dataset's (an arm with another paper's network and recipe); the dataset's
    # overrides (data, metrics, run length keys) still apply on top
    preset: str | None = None


@dataclass
class Experiment:
    """Datasets (each with its preset and overrides) x methods x seeds; `metrics` are keys of the final snapshot."""

    description: str
    datasets: dict[str, tuple[str, dict[str, Any]]]  # label -> (preset, overrides)
    methods: list[Method]
    metrics: list[str]
    seeds: list[int] = field(default_factory=lambda: [42, 43, 44])
    plot: tuple[str, str] = ("modes", "modes_kl")  # (x, y) of the per-dataset plot, two of `metrics`
    curves: tuple[str, ...] = ()  # snapshot metrics drawn against kimg, one panel each (DATASET-curves.png)
    minutes: float = 0.0  # an equal-time study's minutes per run: curves drawn against minutes, not kimg
    final: Final | None = None  # a metric measured once on each finished cell (final.json), beside the snapshots'

    def __post_init__(self) -> None:
        if not set(self.plot) <= set(self.metrics):
            raise ValueError(f"experiment plot axes {self.plot} must be among its metrics {self.metrics}")
        if any(m.kimg_scale != 1.0 for m in self.methods) and any("train.kimg" not in o for _, o in self.datasets.values()):
            raise ValueError("a method with kimg_scale needs train.kimg set in every dataset's overrides")


@dataclass
class Cell:
    dataset: str
    method: str
    params: dict[str, Any]  # short name -> value
    seed: int
    preset: str
    sets: dict[str, Any]

    @property
    def config_id(self) -> str:
        return "-".join(f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}" for k, v in self.params.items()) or "default"

    def path(self, root: Path) -> Path:
        return root / self.dataset / self.method / self.config_id / f"seed{self.seed}"


def cells(exp: Experiment, seeds: list[int] | None = None) -> list[Cell]:
    """Every cell of the grid, in a fixed order."""
    out = []
    for (label, (preset, dsets)), m in itertools.product(exp.datasets.items(), exp.methods):
        keys = list(m.grid)
        for values in itertools.product(*(m.grid[k] for k in keys)) if keys else [()]:
            params = {m.short.get(k, k): v for k, v in zip(keys, values)}
            for seed in seeds or m.seeds or exp.seeds:
                sets = {**dsets, **m.sets, **dict(zip(keys, values)), "train.seed": seed}
                sets.update({k: sets[src] * factor for k, (src, factor) in m.tied.items()})
                if m.kimg_scale != 1.0:
                    sets.update({k: sets[k] * m.kimg_scale for k in ("train.kimg", "train.snapshot_kimg",
                                                                      "train.horizon_kimg") if k in sets})
                out.append(Cell(label, m.name, params, seed, m.preset or preset, sets))
    return out


def finished_cells(study_dir: Path) -> dict[str, list[Path]]:
    """'method config_id' -> the folders of a study folder's finished cells (result.json with status ok), read from
    disk alone: for scripts that read a study without its declaration (an old or shipped one)."""
    out: dict[str, list[Path]] = {}
    for res in sorted(study_dir.glob("*/*/*/seed*/result.json")):
        if json.loads(res.read_text()).get("status") == "ok":
            cell = res.parent
            name = cell.parent.parent.name + ("" if cell.parent.name == "default" else f" {cell.parent.name}")
            out.setdefault(name, []).append(cell)
    return out


def cell_run(folder: Path) -> Path:
    """The run files of a cell or run folder: `folder` itself where it holds metrics.jsonl (a run, or a shipped cell
    whose files sit beside result.json), else its run/ (a cell of a `gankit experiment` folder)."""
    return folder if (folder / "metrics.jsonl").is_file() else folder / "run"


def _write_csv(path: Path, rows: list[list]) -> None:
    """rows as CSV, written atomically."""
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(rows)
    write_atomic(path, buf.getvalue().encode())


def _child(threads: int) -> tuple[list[str], dict[str, str]]:
    """The command and environment of a child `gankit` on `threads` threads, running this process's package."""
    # -P: not the current folder first on the path (a folder named gankit there, e.g. a clone, would be imported);
    # the package this process runs comes first instead, so every cell trains with the same code
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    return [sys.executable, "-P", "-m", "gankit"], env


def _run_cell(cell: Cell, root: Path, threads: int) -> dict:
    """Train one cell in a child process (resuming it if a checkpoint exists); write and return its result.json."""
    home = cell.path(root)  # holds run/ (the gankit run), train.log and result.json
    run = home / "run"
    home.mkdir(parents=True, exist_ok=True)
    (home / "final.json").unlink(missing_ok=True)  # a final metric measured on an earlier training of this cell
    gankit, env = _child(threads)
    argv = [*gankit, "train", "--preset", cell.preset, "--out", str(run)]
    for k, v in {**cell.sets, "train.threads": threads}.items():
        argv += ["--set", f"{k}=[{','.join(map(str, v))}]" if isinstance(v, list) else f"{k}={v}"]
    with open(home / "train.log", "a") as log:
        proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    result: dict[str, Any] = {"dataset": cell.dataset, "method": cell.method, **cell.params, "seed": cell.seed}
    if proc.returncode != 0:
        if proc.returncode < 0:  # killed (Ctrl-C, SIGKILL): not finished, the next invocation resumes it
            raise GankitError(f"cell {run} was interrupted (signal {-proc.returncode}); run the command again to resume")
        tail = (home / "train.log").read_text().strip().splitlines()[-1:] or ["(no output)"]
        log = run / "metrics.jsonl"
        records = MetricsLog.read(log) if log.exists() else []
        diverged = [r for r in records if r.get("event") == "diverged"]
        if diverged:  # a result, not a crash: where it diverged, and D's gradient on fakes at the last log line
            result.update(status="diverged", diverged_kimg=diverged[-1]["kimg"], diverged_step=diverged[-1].get("step"))
            probed = [r for r in records if "d_gradsq_fake" in r]
            if probed:
                result.update(diverged_gradsq_fake=probed[-1]["d_gradsq_fake"], gradsq_fake_kimg=probed[-1]["kimg"])
        else:
            result.update(status="failed")
        result["error"] = tail[0]
    else:
        records = MetricsLog.read(run / "metrics.jsonl")
        snaps = [r for r in records if any(k in r for k in ("modes", "fid"))]
        if not snaps:
            raise GankitError(f"cell {run} finished without snapshot metrics; set train.metrics in the experiment")
        probed = [r for r in records if "d_gradsq_fake" in r]  # the D probe (train.d_probe) at the last log line
        result.update({k: v for k, v in probed[-1].items() if k.startswith("d_")} if probed else {})
        result.update(status="ok", **{k: v for k, v in snaps[-1].items() if k not in ("time", "images", "snapshot_s")})
    write_json(home / "result.json", result)
    return result


def _status(home: Path) -> str:
    """A cell's result status ("ok", "diverged", "failed"), "" where it has no result.json yet."""
    try:
        return json.loads((home / "result.json").read_text()).get("status", "")
    except FileNotFoundError:
        return ""


def _extra_for(c: Cell, extra: dict[str, Any]) -> dict[str, Any]:
    """The study-wide overrides that apply to cell c: data.path only where the cell's dataset reads files."""
    from ..data import DATASETS
    from ..presets import resolve

    if "data.path" in extra:
        name = resolve(c.preset, {**c.sets, **{k: v for k, v in extra.items() if k == "data.name"}}).data.name
        if not DATASETS.caps(name).get("reads_path"):
            return {k: v for k, v in extra.items() if k != "data.path"}
    return extra


def _check_cell(c: Cell) -> None:
    """A cell's config resolves and its values are in range, before any cell runs (a mistyped --set would otherwise
    fail in every cell's train.log, one after another)."""
    from ..config import validate_ranges
    from ..presets import resolve
    from ..training.snapshot import check_metric_files, listed_metrics

    try:
        cfg = resolve(c.preset, {k: v for k, v in c.sets.items()})
        validate_ranges(cfg)
        check_metric_files(listed_metrics(cfg.train.metrics))  # "auto" never reads a file
    except GankitError as e:
        raise GankitError(f"cell {c.dataset} {c.method} {c.config_id} seed {c.seed}: {e}") from None


def _declared_differs(c: Cell, root: Path) -> str:
    """"" when the finished cell's run/config.json holds every value the study declares for it (or has no config to
    compare: a restored cell), else the first that differs, as "key: trained X, declared Y"."""
    try:
        trained = json.loads((c.path(root) / "run" / "config.json").read_text())
    except (OSError, ValueError):
        return ""
    for key, want in c.sets.items():
        section, _, field = key.partition(".")
        got = trained.get(section)
        have = got.get(field, want) if isinstance(got, dict) else want  # a key the config lacks is not a difference
        same = (math.isclose(have, want, rel_tol=1e-9) if isinstance(have, (int, float)) and isinstance(want, (int, float))
                and not isinstance(have, bool) else json.dumps(have) == json.dumps(want))
        if not same:
            return f"{key}: trained {have!r}, declared {want!r}"
    return ""


def fit_to_cores(jobs: int, threads: int, cores: int) -> tuple[int, int, str]:
    """(jobs, threads, note): jobs x threads within `cores`, since OpenMP threads beyond the cores wait at every op's
    barrier (two threads beside a busy process ran at a quarter of their quiet rate, docs/benchmarks.md): jobs capped
    at the cores, then threads at cores // jobs; the note says what changed ("" where nothing did)."""
    j = max(1, min(jobs, cores))
    t = max(1, min(threads, cores // j))
    if (j, t) == (jobs, threads):
        return jobs, threads, ""
    return j, t, (f"{jobs} jobs x {threads} threads would exceed the {cores} cores this process may use: running "
                  f"{j} x {t}")


def run_experiment(name: str, out: Path, jobs: int = 1, threads: int = 1, seeds: list[int] | None = None,
                   extra: dict[str, Any] | None = None, progress: Callable[[str], None] = print,
                   only: list[str] | None = None) -> list[dict]:
    """Run every unfinished cell of experiment `name` under out/name (jobs at a time), then collect.

    extra: overrides for every cell (e.g. data.path); they become part of each cell's config. only: dataset labels or
    method names whose cells run now (the rest wait; the tables count them as unfinished)."""
    exp: Experiment = EXPERIMENTS.get(name)
    root = Path(out) / name
    if only:
        names = {*exp.datasets, *(m.name for m in exp.methods)}
        if set(only) - names:
            raise GankitError(f"--only {','.join(sorted(set(only) - names))}: not a dataset or method of {name}; it has "
                              f"{', '.join(sorted(names))}")
    chosen = [c for c in cells(exp, seeds) if not only or c.dataset in only or c.method in only]
    todo = [c for c in chosen if _status(c.path(root)) in ("", "failed")]  # a failed cell is tried again
    for c in todo:
        c.sets.update(_extra_for(c, extra or {}))
        _check_cell(c)
    jobs, threads, note = fit_to_cores(jobs, threads, usable_cores())
    if note:
        progress(f"gankit: warning: {note}")
    stale = [(c, d) for c in chosen if c not in todo and (d := _declared_differs(c, root))]
    if stale:
        c, d = stale[0]
        progress(f"gankit: warning: {len(stale)} finished cells were trained with other settings than {name} now "
                 f"declares (the first, {c.path(root)}: {d}); they are kept as finished, not retrained: move them "
                 "away (or use a fresh --out) to run the declaration")
    among = f" (--only {','.join(only)}; {len(cells(exp, seeds))} in the study)" if only else ""
    progress(f"experiment {name}: {len(chosen) - len(todo)} of {len(chosen)} cells finished{among}, {len(todo)} to run "
             f"({jobs} at a time)")
    counter = itertools.count(1)  # next() is atomic: safe across the pool's threads

    def one(c: Cell) -> dict:
        r = _run_cell(c, root, threads)
        progress(f"[{next(counter)}/{len(todo)}] {c.dataset} {c.method} {c.config_id} seed {c.seed}: {r['status']}"
                 + "".join(f"  {k} {r[k]:.4g}" for k in exp.metrics if isinstance(r.get(k), (int, float)))
                 + (f" ({r['error']}; its log: {c.path(root) / 'train.log'})" if r["status"] == "failed" else ""))
        return r

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, todo))
    errors, measured = _measure_finals(exp.final, name, chosen, root, jobs, threads, progress) if exp.final else ([], 0)
    summary = collect(name, out, seeds)
    if errors:
        raise GankitError(f"{len(errors)} of {measured} final metrics failed (the tables hold the rest); the first: "
                          f"{errors[0]}")
    return summary


def _measure_finals(final: Final, name: str, chosen: list[Cell], root: Path, jobs: int, threads: int,
                    progress: Callable[[str], None]) -> tuple[list[str], int]:
    """The final metric of every finished cell among `chosen` that lacks it (also those finished before this call);
    returns the failures' messages (each reported as it happens; the other cells are still measured) and the count."""
    due = [c for c in chosen if needs_final(c.path(root), final)]
    bare = [c for c in due if not list_checkpoints(c.path(root) / "run")]  # restored from shipped files
    due = [c for c in due if c not in bare]
    if due or bare:
        progress(f"experiment {name}: the final metric (gankit eval {' '.join(final.args)}) of {len(due)} cells"
                 + (f"; {len(bare)} finished cells have no checkpoint here (restored from shipped files?): theirs "
                    "stays pending" if bare else ""))
    counter = itertools.count(1)
    errors: list[str] = []

    def one(c: Cell, cores: int = threads) -> None:
        try:
            r = measure_final(c.path(root), final, *_child(cores))
            said = "".join(f"  {k} {r[k]:.4g}" for k in final.fields)
        except GankitError as e:
            errors.append(str(e))
            said = f" {e}"
        progress(f"[final {next(counter)}/{len(due)}] {c.dataset} {c.method} {c.config_id} seed {c.seed}:{said}")

    if due:  # the first alone, on all the study's cores: it measures the reference (cached), which the rest then read
        one(due[0], threads * max(1, jobs))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, due[1:]))
    return errors, len(due)


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (n - 1); one value has no spread to estimate, so its std is NaN (shown as "n = 1", never
    as +- 0, which would read as a measured zero spread)."""
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else math.nan


def _mean_cell(mean: float, std: float) -> str:
    """A summary cell: "-" with no value, "m (n = 1)" with one, else "m +- std"."""
    if not math.isfinite(mean):
        return "-"
    return f"{mean:.4g} (n = 1)" if not math.isfinite(std) else f"{mean:.4g} +- {std:.2g}"


def _feature_precisions(root: Path, finished: list[Cell]) -> str:
    """A warning line (also raised as a warning) when the finished cells' snapshot features were not all computed at
    one precision (train.eval_precision): fast (bf16) and exact metrics are not to be compared; "" when they were."""
    counts: dict[str, int] = {}
    for c in finished:
        try:
            p = json.loads((c.path(root) / "run" / "config.json").read_text())["train"].get("eval_precision", "exact")
        except (OSError, ValueError, KeyError, TypeError):
            p = "unknown"
        counts[p] = counts.get(p, 0) + 1
    if len(counts) < 2:
        return ""
    line = ("**Warning:** the cells' metrics were computed at different feature precisions ("
            + ", ".join(f"{k}: {v} cells" for k, v in sorted(counts.items())) + "); fast (bf16) and exact values are "
            "not comparable: re-evaluate the fast cells with `gankit eval --feature-precision exact`")
    warnings.warn(line.replace("**", ""), stacklevel=3)
    return line


def collect(name: str, out: Path, seeds: list[int] | None = None) -> list[dict]:
    """Read every finished cell; write results.csv, summary.csv, summary.md, one plot per dataset and report.html (the
    study's page); return the summary."""
    exp: Experiment = EXPERIMENTS.get(name)
    root = Path(out) / name
    every = cells(exp, seeds)
    finals = exp.final.columns if exp.final is not None else []
    metrics = [*exp.metrics, *finals]  # the snapshots' metrics, then the final ones (final.json), pending where missing
    results = [{**json.loads((c.path(root) / "result.json").read_text()),
                **(read_final(c.path(root), exp.final) if exp.final is not None else {})}
               for c in every if (c.path(root) / "result.json").exists()]
    if not results:
        raise GankitError(f"no finished cells under {root}; run `gankit experiment {name}` first")
    params = list(dict.fromkeys(k for m in exp.methods for k in (m.short.get(g, g) for g in m.grid)))
    unfinished: dict[tuple, int] = {}  # configuration -> its cells without a result yet: counted in the tables
    for c in every:
        if not (c.path(root) / "result.json").exists():
            key = (c.dataset, c.method, *(c.params.get(p, "") for p in params))
            unfinished[key] = unfinished.get(key, 0) + 1
    head = ["dataset", "method", *params, "seed", "status", *metrics]
    _write_csv(root / "results.csv", [head] + [[r.get(k, "") for k in head] for r in results])
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["dataset"], r["method"], *(r.get(p, "") for p in params)), []).append(r)
    for key in unfinished:  # a configuration with no finished cell still gets its row
        groups.setdefault(key, [])
    summary = []
    for key, rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        div = sorted(float(r["diverged_kimg"]) for r in rs if r["status"] == "diverged")
        row = {"dataset": key[0], "method": key[1], **dict(zip(params, key[2:])), "seeds": len(rs),
               "unfinished": unfinished.get(key, 0),
               "failed": len(rs) - len(ok) - len(div), "diverged": len(div),
               "diverged_kimg": " ".join(f"{k:g}" for k in div)}
        for m in metrics:
            vals = [float(r[m]) for r in ok if isinstance(r.get(m), (int, float)) and math.isfinite(float(r[m]))]
            row[m], row[m + "_std"] = _mean_std(vals) if vals else (math.nan, math.nan)
            pending = sum(m not in r for r in ok) if m in finals else 0  # final metric not measured yet
            row[m + "_nan"] = len(ok) - len(vals) - pending  # finished seeds whose value is NaN or missing: shown
            if m in finals:
                row[m + "_pending"] = pending
        summary.append(row)
    cols = ["dataset", "method", *params, "seeds", "unfinished", "failed", "diverged", "diverged_kimg"] + [
        c for m in metrics for c in (m, m + "_std", m + "_nan", *([m + "_pending"] if m in finals else []))]
    _write_csv(root / "summary.csv", [cols] + [[row[c] for c in cols] for row in summary])
    mixed = _feature_precisions(root, [c for c in every if (c.path(root) / "result.json").exists()])
    lines = [f"# {name}: {exp.description}", "", *([mixed, ""] if mixed else []),
             "Means and sample std (n - 1) over the seeds that finished with a finite value (\"n = 1\": one value, no std); a value that is NaN (e.g. "
             "the KL of 0 modes) is counted beside the mean as \"(k NaN)\"; diverged and failed seeds are counted, never averaged; "
             "\"seeds\" counts the finished cells, \"unfinished\" those not run to the end yet (a partial table says so).",
             *([f"final_* columns: `gankit eval --run CELL/run {' '.join(exp.final.args)}` on each finished cell's last "
                "checkpoint (final.json), outside the training minutes; \"(k pending)\": finished cells not measured "
                "yet (run the study's command again)."] if exp.final is not None else []),
             "",
             "| " + " | ".join(["dataset", "method", *params, "seeds", "unfinished", "diverged (at kimg)", "failed",
                              *metrics]) + " |",
             "|" + "---|" * (len(params) + 6 + len(metrics))]
    for row in summary:
        div = f"{row['diverged']} ({row['diverged_kimg']})" if row["diverged"] else "0"
        cells_md = [row["dataset"], row["method"], *(str(row[p]) for p in params), str(row["seeds"]),
                    str(row["unfinished"]), div, str(row["failed"])]
        cells_md += [_mean_cell(row[m], row[m + "_std"])
                     + (f" ({row[m + '_nan']} NaN)" if row[m + "_nan"] else "")
                     + (f" ({row[m + '_pending']} pending)" if row.get(m + "_pending") else "") for m in metrics]
        lines.append("| " + " | ".join(cells_md) + " |")
    write_atomic(root / "summary.md", ("\n".join(lines) + "\n").encode())
    plot_final(exp.plot, summary, root)
    runs: dict[tuple, list[Path]] = {}  # (dataset, configuration) -> its cells' run directories
    for c in cells(exp, seeds):
        if (c.path(root) / "result.json").exists():
            runs.setdefault((c.dataset, f"{c.method} {c.config_id}".replace(" default", "")), []).append(c.path(root) / "run")
    if exp.curves:
        plot_curves(exp.curves, runs, root, exp.minutes)
    plot_samples(runs, root)
    from .report import study_report

    study_report(root, f"gankit experiment {name}", summary, cols,
                 [(f"{c.dataset} {c.method} {c.config_id} seed {c.seed}", c.path(root) / "run") for c in cells(exp, seeds)
                  if (c.path(root) / "result.json").exists()], declared=exp.description)
    return summary

