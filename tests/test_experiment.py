"""The experiment runner records a diverged cell as a result, and draws curves and sample sheets from the run dirs."""
from __future__ import annotations

import json

from gankit.experiment import EXPERIMENTS, Experiment, Method, cells, collect, run_experiment


def test_a_diverged_cell_is_a_result_with_its_kimg_and_never_averaged(tmp_path, monkeypatch):
    """Every cell meets a NaN at step 3 (real subprocesses, fault injected through the environment). With
    train.on_nonfinite=stop the cell stops there: status "diverged" at its kimg, counted in the summary and kept
    out of the means; the default (roll back, lower lr) recovers and finishes."""
    name = "test-divergence"
    base = {"train.kimg": 0.256, "train.snapshot_kimg": 0.128, "train.metrics": "modes", "train.eval_n": 200,
            "train.tensorboard": False, "train.batch": 32}
    EXPERIMENTS._items.pop(name, None)
    EXPERIMENTS.register(name)(Experiment(
        "one method that stops at the NaN, one that rolls back", {"grid25": ("mlp-grid25", base)},
        [Method("stops", {"train.on_nonfinite": "stop"}), Method("rolls-back", {})],
        ["modes", "modes_kl"], seeds=[1, 2], curves=("modes", "modes_kl")))
    monkeypatch.setenv("GANKIT_FAULT", "nan_at_step:3")
    root = tmp_path / "exp"
    summary = run_experiment(name, root, progress=lambda m: None)
    results = {(c.method, c.seed): json.loads((c.path(root / name) / "result.json").read_text())
               for c in cells(EXPERIMENTS.get(name))}
    for seed in (1, 2):
        r = results[("stops", seed)]
        assert r["status"] == "diverged" and r["diverged_step"] == 3 and r["diverged_kimg"] == 3 * 32 / 1000
        assert "modes" not in r
        assert results[("rolls-back", seed)]["status"] == "ok"
    rows = {r["method"]: r for r in summary}
    assert rows["stops"]["diverged"] == 2 and rows["stops"]["diverged_kimg"] == "0.096 0.096"
    assert rows["stops"]["modes"] != rows["stops"]["modes"]  # NaN: no seed finished, nothing averaged
    assert rows["rolls-back"]["diverged"] == 0 and rows["rolls-back"]["modes"] >= 0
    md = (root / name / "summary.md").read_text()
    assert "| grid25 | stops | 2 | 2 (0.096 0.096) | 0 | - | - |" in md
    for png in ("grid25.png", "grid25-curves.png", "grid25-samples.png"):
        assert (root / name / png).stat().st_size > 1000
    page = (root / name / "report.html").read_text()  # the study's page: table, plots inside, a link per cell
    assert page.count("data:image/png;base64,") == 3 and page.count("<li><a href='grid25/") == len(results)
    # --collect-only rebuilds the same table from the run directories alone
    (root / name / "summary.md").unlink()
    collect(name, root)
    assert (root / name / "summary.md").read_text() == md
