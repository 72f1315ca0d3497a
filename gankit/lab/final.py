"""A study's final metric: the number it reports, measured once on each finished cell's last checkpoint.

The snapshots inside a run give the curves and are cheap (e.g. FID on 1,000 samples); the reported number may need
a costlier protocol (FID on 10k samples against the whole training set). `Final` declares it as `gankit eval`
arguments; each cell keeps its measurement in final.json beside result.json, with the arguments it was measured
with, so a changed declaration re-measures and a table never mixes two protocols. Evaluation sits outside the
training minutes and draws from its own seed, never from a training RNG.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import list_checkpoints
from ..errors import GankitError
from ..training.cores import cpu_name
from ..files import write_json


@dataclass(frozen=True)
class Final:
    """`gankit eval --run CELL/run *args --json` on every finished cell; each of `fields` (a key of
    eval.evaluate.flatten_results, e.g. "fid" or "kid_mean") becomes the table column final_<field>."""

    args: tuple[str, ...]  # e.g. ("--protocol", "fid10k_full")
    fields: tuple[str, ...]  # e.g. ("fid",)

    @property
    def columns(self) -> list[str]:
        return [f"final_{f}" for f in self.fields]


def needs_final(home: Path, final: Final) -> bool:
    """A cell that finished healthy and whose final.json is missing or was measured with other arguments."""
    try:
        if json.loads((home / "result.json").read_text()).get("status") != "ok":
            return False
    except (OSError, ValueError):
        return False
    try:
        return json.loads((home / "final.json").read_text()).get("args") != list(final.args)
    except (OSError, ValueError):
        return True


def measure_final(home: Path, final: Final, gankit: list[str], env: dict[str, str]) -> dict:
    """Run `final` on the cell in `home` (its run/'s last checkpoint, G_ema) as the child command `gankit` with `env`;
    write and return final.json: the arguments, each field's value, the timings and every metric's protocol."""
    from ..eval.evaluate import flatten_results

    proc = subprocess.run([*gankit, "eval", "--run", str(home / "run"), *final.args, "--json", "--quiet"],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise GankitError(f"the final metric of cell {home} failed ({why}); fix it and run the command again")
    try:
        results = json.loads(proc.stdout)
    except ValueError:
        raise GankitError(f"the final metric of cell {home}: `gankit eval` printed no JSON ({proc.stdout[:80]!r}); "
                          "run it by hand with --json to see why") from None
    flat = flatten_results(results)
    missing = [f for f in final.fields if f not in flat]
    if missing:
        raise GankitError(f"`gankit eval {' '.join(final.args)}` gives {', '.join(sorted(flat))}, not "
                          f"{', '.join(missing)}: the study's Final names fields its arguments do not measure")
    ckpts = list_checkpoints(home / "run")
    record = {"args": list(final.args), **{f: flat[f] for f in final.fields},
              "checkpoint": ckpts[-1].name if ckpts else None,  # what was measured: the run's last checkpoint
              "seconds": {k: r.get("seconds") for k, r in results.items()},
              "threads": int(env["OMP_NUM_THREADS"]) if env.get("OMP_NUM_THREADS") else None,  # what the seconds ran on
              "cpu": cpu_name(),
              "protocol": {k: r.get("protocol") for k, r in results.items()}}
    write_json(home / "final.json", record)
    return record


def read_final(home: Path, final: Final) -> dict[str, float]:
    """The cell's final columns ({final_<field>: value}) if final.json holds a measurement with `final`'s arguments,
    else {} (not measured yet, or measured under another declaration: the table counts it as pending)."""
    try:
        record = json.loads((home / "final.json").read_text())
    except (OSError, ValueError):
        return {}
    if record.get("args") != list(final.args):
        return {}
    return {col: record[f] for f, col in zip(final.fields, final.columns) if f in record}
