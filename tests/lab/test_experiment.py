"""The experiment runner records a diverged cell as a result, and draws curves and sample sheets from the run dirs."""
from __future__ import annotations

import json

import pytest

from gankit.lab.experiment import EXPERIMENTS, Experiment, Method, cells, collect, run_experiment


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
        [Method("stops", {"train.on_nonfinite": "stop", "train.d_probe": 16, "train.log_kimg": 0.032}),
         Method("rolls-back", {"train.d_probe": 16})],
        ["modes", "modes_kl"], seeds=[1, 2], curves=("modes", "modes_kl")))
    monkeypatch.setenv("GANKIT_FAULT", "nan_at_step:3")
    root = tmp_path / "exp"
    summary = run_experiment(name, root, progress=lambda m: None)
    results = {(c.method, c.seed): json.loads((c.path(root / name) / "result.json").read_text())
               for c in cells(EXPERIMENTS.get(name))}
    cells_by = {(c.method, c.seed): c for c in cells(EXPERIMENTS.get(name))}
    for seed in (1, 2):
        r = results[("stops", seed)]
        assert r["status"] == "diverged" and r["diverged_step"] == 3 and r["diverged_kimg"] == 3 * 32 / 1000
        assert "modes" not in r
        # D's gradient on fakes at the last log line before it (the probe's, every 32 images: steps 1 and 2)
        logged = [json.loads(x) for x in (cells_by[("stops", seed)].path(root / name) / "run" / "metrics.jsonl")
                  .read_text().splitlines()]
        at = [x["d_gradsq_fake"] for x in logged if x.get("kimg") == 0.064 and "d_gradsq_fake" in x]
        assert r["gradsq_fake_kimg"] == 0.064 and r["diverged_gradsq_fake"] == at[-1] and len(at) == 1
        assert results[("rolls-back", seed)]["status"] == "ok"
        logged = [json.loads(x) for x in (cells_by[("rolls-back", seed)].path(root / name) / "run" / "metrics.jsonl")
                  .read_text().splitlines()]
        assert results[("rolls-back", seed)]["d_gradsq_fake"] == [x for x in logged if "d_gradsq_fake" in x][-1]["d_gradsq_fake"]
    rows = {r["method"]: r for r in summary}
    assert rows["stops"]["diverged"] == 2 and rows["stops"]["diverged_kimg"] == "0.096 0.096"
    assert rows["stops"]["modes"] != rows["stops"]["modes"]  # NaN: no seed finished, nothing averaged
    assert rows["rolls-back"]["diverged"] == 0 and rows["rolls-back"]["modes"] >= 0
    md = (root / name / "summary.md").read_text()
    assert "| grid25 | stops | 2 | 0 | 2 (0.096 0.096) | 0 | - | - |" in md
    for png in ("grid25.png", "grid25-curves.png", "grid25-samples.png"):
        assert (root / name / png).stat().st_size > 1000
    page = (root / name / "report.html").read_text()  # the study's page: table, plots inside, a link per cell
    assert page.count("data:image/png;base64,") == 3 and page.count("<li><a href='grid25/") == len(results)
    # --collect-only rebuilds the same table from the run directories alone
    (root / name / "summary.md").unlink()
    collect(name, root)
    assert (root / name / "summary.md").read_text() == md


def test_a_nan_metric_is_counted_and_shown_never_dropped_silently(tmp_path):
    """Three finished seeds, one with KL NaN (0 modes): the mean and sample std are over the two finite values and
    the table says "(1 NaN)" beside them; summary.csv carries the count (catches a NaN silently dropped)."""
    import json

    name = "test-nan-count"
    EXPERIMENTS._items.pop(name, None)
    exp = Experiment("nan counting", {"grid25": ("mlp-grid25", {})}, [Method("gan", {})], ["modes", "modes_kl"],
                     seeds=[0, 1, 2], plot=("modes", "modes_kl"))
    EXPERIMENTS.register(name)(exp)
    root = tmp_path / "exp"
    for c, (modes, kl) in zip(cells(exp), [(25, 0.1), (24, 0.3), (0, float("nan"))]):
        home = c.path(root / name)
        (home / "run").mkdir(parents=True)
        (home / "result.json").write_text(json.dumps({"dataset": c.dataset, "method": c.method, "seed": c.seed,
                                                      "status": "ok", "modes": modes, "modes_kl": kl}))
    row = collect(name, root)[0]
    assert row["modes_kl"] == pytest.approx(0.2) and row["modes_kl_std"] == pytest.approx(0.1414, abs=1e-4)
    assert row["modes_kl_nan"] == 1 and row["modes_nan"] == 0 and row["modes"] == pytest.approx(49 / 3)
    md = (root / name / "summary.md").read_text()
    assert "| 0.2 +- 0.14 (1 NaN) |" in md and "sample std (n - 1)" in md


def test_collect_counts_the_cells_that_have_not_finished(tmp_path):
    """A partial study: method a has 1 of 2 seeds finished, method b none. Each row says how many cells are still
    unfinished, and b gets a row with no values rather than vanishing (catches a table that silently shows fewer seeds)."""
    import json

    name = "test-partial"
    EXPERIMENTS._items.pop(name, None)
    exp = Experiment("partial", {"grid25": ("mlp-grid25", {})}, [Method("a", {}), Method("b", {})], ["modes"],
                     seeds=[0, 1], plot=("modes", "modes"))
    EXPERIMENTS.register(name)(exp)
    root = tmp_path / "exp"
    c = cells(exp)[0]
    (c.path(root / name) / "run").mkdir(parents=True)
    (c.path(root / name) / "result.json").write_text(json.dumps({"dataset": c.dataset, "method": "a", "seed": 0,
                                                                  "status": "ok", "modes": 25}))
    rows = {r["method"]: r for r in collect(name, root)}
    assert (rows["a"]["seeds"], rows["a"]["unfinished"]) == (1, 1)
    assert (rows["b"]["seeds"], rows["b"]["unfinished"]) == (0, 2)
    md = (root / name / "summary.md").read_text()
    assert "| grid25 | a | 1 | 1 | 0 | 0 | 25 (n = 1) |" in md and "| grid25 | b | 0 | 2 | 0 | 0 | - |" in md


def test_method_budget_scale_and_own_seeds():
    """kimg_scale multiplies a method's real-image budget (and its snapshot interval), e.g. WGAN-GP's 5 D steps per G
    step at equal G steps; a method's own seeds replace the experiment's; a scale without train.kimg is refused."""
    from gankit.lab.experiment import Experiment, Method, cells

    exp = Experiment("t", {"grid25": ("mlp-grid25", {"train.kimg": 10, "train.snapshot_kimg": 5})},
                     [Method("a", {}), Method("b", {"train.n_critic": 5}, kimg_scale=5.0, seeds=[7])], ["modes"],
                     seeds=[1, 2], plot=("modes", "modes"))
    got = [(c.method, c.seed, c.sets["train.kimg"], c.sets["train.snapshot_kimg"]) for c in cells(exp)]
    assert got == [("a", 1, 10, 5), ("a", 2, 10, 5), ("b", 7, 50.0, 25.0)]
    assert [c.seed for c in cells(exp, seeds=[3])] == [3, 3]  # the command line's --seeds still wins
    with pytest.raises(ValueError, match="kimg_scale needs train.kimg"):
        Experiment("t", {"grid25": ("mlp-grid25", {})}, [Method("b", {}, kimg_scale=5.0)], ["modes"], plot=("modes", "modes"))


def test_curves_take_a_log_axis_only_where_run_lengths_differ_by_more_than_4x():
    from gankit.lab.plots import needs_log_axis

    assert needs_log_axis([640, 1280, 12800])  # WGAN-GP at 20x the ring's 640k
    assert not needs_log_axis([640, 1280, 2560])  # exactly 4x: linear
    assert not needs_log_axis([960, 960])
    assert not needs_log_axis([])


def test_equal_time_curves_put_each_run_on_its_declared_minutes(tmp_path):
    """An equal-time study's run of L kimg, declared to take M minutes, has its snapshot at k kimg at k / L * M minutes:
    runs of different lengths (arms of different rates) meet at the same minutes."""
    from gankit.config import Config
    from gankit.lab.plots import snapshot_curves

    for kimg, snaps in ((185.3, [46.325, 92.65, 185.3]), (1198.4, [299.6, 599.2, 1198.4])):
        run = tmp_path / str(kimg)
        run.mkdir()
        cfg = Config()
        cfg.train.kimg = kimg
        (run / "config.json").write_text(json.dumps(cfg.to_dict()))
        (run / "metrics.jsonl").write_text("".join(json.dumps({"kimg": k, "images": int(k * 1000), "fid": 100 - i})
                                                   + "\n" for i, k in enumerate(snaps)))
        assert snapshot_curves(run, "fid") == [(k, 100 - i) for i, k in enumerate(snaps)]  # kimg without minutes
        got = snapshot_curves(run, "fid", minutes=60)
        assert [v for _, v in got] == [100, 99, 98]
        assert [t for t, _ in got] == pytest.approx([15.0, 30.0, 60.0], abs=1e-9)


def test_tied_keys_follow_the_swept_one() -> None:
    """gamma-cifar10 sweeps loss.gamma; each cell's gamma_final is 0.1 x its gamma (the paper's 10x fall)."""
    from gankit.lab.studies import GAMMAS_CIFAR as GAMMAS

    cs = cells(EXPERIMENTS.get("gamma-cifar10"))
    assert len(cs) == 3 * len(GAMMAS) * 2
    for c in cs:
        assert c.sets["loss.gamma_final"] == pytest.approx(c.sets["loss.gamma"] * 0.1)
    assert sorted({c.sets["loss.gamma"] for c in cs}) == GAMMAS
    assert {c.config_id for c in cs} == {f"gamma{g:g}" for g in GAMMAS}


def test_a_method_with_its_own_preset_overrides_the_datasets() -> None:
    """An arm with another paper's network (Method.preset) runs that preset, with the dataset's overrides on top."""
    from gankit.lab.experiment import Experiment, Method

    exp = Experiment("x", {"d": ("r3gan-recipe", {"train.kimg": 5})},
                     [Method("r3gan", {}), Method("dcgan", {"train.batch": 64}, preset="dcgan-cifar10")], ["fid"],
                     seeds=[1], plot=("fid", "fid"))
    by = {c.method: c for c in cells(exp)}
    assert by["r3gan"].preset == "r3gan-recipe" and by["dcgan"].preset == "dcgan-cifar10"
    assert by["dcgan"].sets == {"train.kimg": 5, "train.batch": 64, "train.seed": 1}


def test_only_runs_the_named_arm_and_the_table_counts_the_rest(tmp_path):
    """--only a trains a's cells alone (real subprocesses); b's wait, counted as unfinished; an unknown name is one line
    listing the valid ones."""
    from gankit.cli import main

    name = "test-only"
    EXPERIMENTS._items.pop(name, None)
    base = {"train.kimg": 0.064, "train.snapshot_kimg": 0.064, "train.metrics": "modes", "train.eval_n": 200,
            "train.tensorboard": False, "train.batch": 32}
    EXPERIMENTS.register(name)(Experiment("only", {"grid25": ("mlp-grid25", base)}, [Method("a", {}), Method("b", {})],
                                          ["modes"], seeds=[1], plot=("modes", "modes")))
    said: list[str] = []
    rows = {r["method"]: r for r in run_experiment(name, tmp_path, progress=said.append, only=["a"])}
    assert (rows["a"]["seeds"], rows["a"]["unfinished"]) == (1, 0)
    assert (rows["b"]["seeds"], rows["b"]["unfinished"]) == (0, 1)
    assert not (tmp_path / name / "grid25" / "b").exists()
    # the progress line counts the chosen cells: b's unrun cell is neither finished nor to run
    assert said[0] == f"experiment {name}: 0 of 1 cells finished (--only a; 2 in the study), 1 to run (1 at a time)"
    said.clear()
    run_experiment(name, tmp_path, progress=said.append, only=["a"])
    assert said[0].startswith(f"experiment {name}: 1 of 1 cells finished (--only a; 2 in the study), 0 to run")
    assert main(["experiment", name, "--only", "c", "--out", str(tmp_path)]) == 2


def test_a_missing_lpips_trunk_refuses_the_study_before_any_cell_runs(tmp_path, monkeypatch):
    """lpips_div reads an AlexNet trunk from outside the package; without it every snapshot of every cell used to fail
    one by one while the cells trained on. Now the study stops in one line naming the fix, and writes nothing."""
    from gankit.errors import GankitError

    name = "test-lpips-trunk"
    monkeypatch.setitem(EXPERIMENTS._items, name, Experiment(  # registered for this test alone
        "trunk", {"stacked-digits": ("r3gan-tiny", {"train.metrics": "modes,lpips_div"})}, [Method("a", {})], ["modes"],
        seeds=[1], plot=("modes", "modes")))
    monkeypatch.delenv("GANKIT_LPIPS_TRUNK", raising=False)
    with pytest.raises(GankitError, match=r"cell stacked-digits a default seed 1: train.metrics has lpips_div: .*"
                                          r"GANKIT_LPIPS_TRUNK.*or drop lpips_div"):
        run_experiment(name, tmp_path, progress=lambda m: None)
    assert not any(tmp_path.iterdir())


def test_a_failed_cell_says_why_and_is_tried_again(tmp_path, monkeypatch):
    """A cell that failed (here: weight clipping asked of a loss without a critic; and one left failed by an earlier run) is not
    finished: the progress line gives its error and log, and the next invocation trains it again (real subprocesses)."""
    name = "test-retry"
    base = {"train.kimg": 0.064, "train.snapshot_kimg": 0.064, "train.metrics": "modes", "train.eval_n": 200,
            "train.tensorboard": False, "train.batch": 32}
    monkeypatch.setitem(EXPERIMENTS._items, name, Experiment(  # for this test alone: its bad arm fails validation
        "retry", {"grid25": ("mlp-grid25", base)}, [Method("bad", {"loss.clip": 0.01}), Method("good", {})], ["modes"],
        seeds=[1], plot=("modes", "modes")))
    good = tmp_path / name / "grid25" / "good" / "default" / "seed1"
    good.mkdir(parents=True)
    (good / "result.json").write_text(json.dumps({"dataset": "grid25", "method": "good", "seed": 1, "status": "failed",
                                                         "error": "earlier"}))
    said: list[str] = []
    rows = {r["method"]: r for r in run_experiment(name, tmp_path, progress=said.append)}
    assert said[0] == f"experiment {name}: 0 of 2 cells finished, 2 to run (1 at a time)"
    bad_line = next(m for m in said if " bad " in m)
    log = tmp_path / name / "grid25" / "bad" / "default" / "seed1" / "train.log"
    assert bad_line.endswith(f": failed (gankit: error: loss.clip (weight clipping) keeps a Wasserstein critic Lipschitz; "
                             f"with loss.name=rpgan it only cripples D: set loss.name=wasserstein or loss.clip=0; its log: "
                             f"{log})"), bad_line
    assert json.loads((good / "result.json").read_text())["status"] == "ok"
    assert (rows["good"]["seeds"], rows["good"]["failed"], rows["bad"]["failed"]) == (1, 0, 1)
    said.clear()
    run_experiment(name, tmp_path, progress=said.append)
    assert said[0] == f"experiment {name}: 1 of 2 cells finished, 1 to run (1 at a time)"


def test_cells_run_the_installed_package_whatever_the_current_folder_holds(tmp_path, monkeypatch):
    """A folder named gankit in the current directory (a clone, a stray copy) used to be what every cell imported."""
    name = "test-cwd"
    EXPERIMENTS._items.pop(name, None)
    base = {"train.kimg": 0.032, "train.snapshot_kimg": 0.032, "train.metrics": "modes", "train.eval_n": 100,
            "train.tensorboard": False, "train.batch": 32}
    EXPERIMENTS.register(name)(Experiment("cwd", {"grid25": ("mlp-grid25", base)}, [Method("a", {})], ["modes"],
                                          seeds=[1], plot=("modes", "modes")))
    here = tmp_path / "work"
    (here / "gankit").mkdir(parents=True)
    (here / "gankit" / "__init__.py").write_text("raise ImportError('the stray folder was imported')\n")
    monkeypatch.chdir(here)
    rows = run_experiment(name, tmp_path / "exp", progress=lambda m: None)
    log = (tmp_path / "exp" / name / "grid25" / "a" / "default" / "seed1" / "train.log").read_text()
    assert rows[0]["seeds"] == 1 and rows[0]["failed"] == 0, log


def test_every_declared_cell_validates_before_anything_runs():
    """Each cell of every declared study (on data that needs no files) resolves, validates and has metrics its
    dataset supports: a mistyped arm fails here, not hours into a study."""
    import gankit.lab  # noqa: F401  (registers the declared studies)
    from gankit.data import DATASETS, build_dataset
    from gankit.presets import resolve
    from gankit.training.snapshot import metric_names
    from gankit.validate import validate

    seen, datasets = set(), {}
    for name in EXPERIMENTS.names():
        for c in cells(EXPERIMENTS.get(name)):
            key = (c.preset, json.dumps(c.sets, sort_keys=True, default=str))
            if key in seen:
                continue
            seen.add(key)
            cfg = resolve(c.preset, {k: v for k, v in c.sets.items()})
            if DATASETS.caps(cfg.data.name).get("reads_path"):
                continue  # reads ../shared data (CIFAR-10, MNIST): those studies' own tests cover them
            dkey = json.dumps(vars(cfg.data), sort_keys=True, default=str)
            ds = datasets.setdefault(dkey, build_dataset(cfg.data))
            validate(cfg, ds.shape, ds.num_classes, cfg.data.name)
            metric_names(cfg, ds)
    assert len(seen) > 100


def test_jobs_times_threads_never_exceed_the_cores():
    from gankit.lab import experiment as ex

    assert ex.fit_to_cores(2, 1, 2) == (2, 1, "")
    assert ex.fit_to_cores(2, 2, 2)[:2] == (2, 1) and "2 jobs x 2 threads" in ex.fit_to_cores(2, 2, 2)[2]
    assert ex.fit_to_cores(4, 1, 2)[:2] == (2, 1)
    assert ex.fit_to_cores(1, 4, 2)[:2] == (1, 2)
    assert ex.fit_to_cores(3, 3, 8)[:2] == (3, 2)  # 8 // 3 threads each
    assert ex.fit_to_cores(3, 1, 1)[:2] == (1, 1)


def test_a_dataset_with_no_finished_cell_gets_no_plot_and_no_empty_legend(tmp_path):
    """plot_final draws only datasets with a finished configuration (it drew an empty axis and matplotlib warned
    'No artists with labels found to put in legend' for a setting whose cells had not run yet)."""
    import warnings

    from gankit.lab.plots import plot_final

    nan = float("nan")
    summary = [{"dataset": "done", "method": "m", "fid": 60.0, "fid_std": 1.0, "kid": 0.02, "kid_std": 0.001},
               {"dataset": "waiting", "method": "m", "fid": nan, "fid_std": nan, "kid": nan, "kid_std": nan}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's legend warning would fail the test
        plot_final(("kid", "fid"), summary, tmp_path)
    assert (tmp_path / "done.png").is_file() and not (tmp_path / "waiting.png").exists()


def test_cells_evaluated_at_different_feature_precisions_are_flagged(tmp_path):
    """Fast (bf16) and exact snapshot metrics are never tabled together without a warning: collect warns, and
    summary.md opens with the counts; one precision throughout gives neither."""
    import json

    name = "test-precisions"
    EXPERIMENTS._items.pop(name, None)
    exp = Experiment("precisions", {"grid25": ("mlp-grid25", {})}, [Method("a", {})], ["modes"], seeds=[0, 1],
                     plot=("modes", "modes"))
    EXPERIMENTS.register(name)(exp)
    root = tmp_path / "exp"
    for c, precision in zip(cells(exp), ("exact", "fast")):
        (c.path(root / name) / "run").mkdir(parents=True)
        (c.path(root / name) / "run" / "config.json").write_text(json.dumps({"train": {"eval_precision": precision}}))
        (c.path(root / name) / "result.json").write_text(json.dumps({"dataset": c.dataset, "method": "a", "seed": c.seed,
                                                                      "status": "ok", "modes": 25}))
    with pytest.warns(UserWarning, match=r"different feature precisions \(exact: 1 cells, fast: 1 cells\)"):
        collect(name, root)
    assert "**Warning:** the cells' metrics were computed at different feature precisions" in (root / name / "summary.md").read_text()
    (cells(exp)[1].path(root / name) / "run" / "config.json").write_text(json.dumps({"train": {"eval_precision": "exact"}}))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        collect(name, root)
    assert "Warning" not in (root / name / "summary.md").read_text()


def test_a_final_metric_is_measured_once_per_finished_cell_and_pending_where_it_cannot_be(tmp_path):
    """A study's Final runs `gankit eval` (a real child process) on each finished cell: final.json holds the arguments,
    the value and the protocol of exactly that evaluation (500 samples, seed 3), the tables carry final_<field>, a
    finished cell without checkpoints (restored from shipped files) stays pending and is counted, a changed
    declaration re-measures, and a field the arguments do not give is refused in one line."""
    from gankit.errors import GankitError
    from gankit.lab.final import Final

    name = "test-final"
    EXPERIMENTS._items.pop(name, None)
    base = {"train.kimg": 0.064, "train.snapshot_kimg": 0.064, "train.metrics": "modes", "train.eval_n": 200,
            "train.tensorboard": False, "train.batch": 32}
    exp = Experiment("final", {"grid25": ("mlp-grid25", base)}, [Method("a", {})], ["modes"], seeds=[1, 2],
                     plot=("modes", "modes"), final=Final(("--metrics", "modes", "--n", "500", "--seed", "3"),
                                                          ("modes", "modes_kl")))
    EXPERIMENTS.register(name)(exp)
    root = tmp_path / "exp"
    restored = cells(exp)[1].path(root / name)  # seed 2: finished elsewhere, only its result.json shipped here
    (restored / "run").mkdir(parents=True)
    (restored / "run" / "config.json").write_text(json.dumps({"train": {"eval_precision": "exact"}}))
    (restored / "result.json").write_text(json.dumps({"dataset": "grid25", "method": "a", "seed": 2, "status": "ok",
                                                      "modes": 20}))
    said: list[str] = []
    row = run_experiment(name, root, progress=said.append)[0]
    home = cells(exp)[0].path(root / name)
    record = json.loads((home / "final.json").read_text())
    assert record["args"] == ["--metrics", "modes", "--n", "500", "--seed", "3"]
    assert record["protocol"]["modes"]["n_gen"] == 500 and record["protocol"]["modes"]["seed"] == 3
    assert 0 <= record["modes"] <= 25 and record["modes_kl"] >= 0
    from gankit.checkpoint import list_checkpoints

    assert record["checkpoint"] == list_checkpoints(home / "run")[-1].name  # the run's last checkpoint was measured
    assert record["threads"] == 1  # what its seconds ran on (1 job x 1 thread here)
    assert any("1 finished cells have no checkpoint here" in line for line in said)
    assert row["final_modes"] == record["modes"] and row["final_modes_pending"] == 1 and row["final_modes_nan"] == 0
    md = (root / name / "summary.md").read_text()
    assert f"{record['modes']:.4g} (n = 1) (1 pending)" in md and "final_modes" in md
    csv_rows = (root / name / "results.csv").read_text().splitlines()
    assert csv_rows[0].endswith("modes,final_modes,final_modes_kl")
    assert csv_rows[2].endswith(",ok,20,,")  # the restored cell: no final value, not a made-up one
    head = (root / name / "summary.csv").read_text().splitlines()[0]
    assert head.endswith("final_modes,final_modes_std,final_modes_nan,final_modes_pending,"
                         "final_modes_kl,final_modes_kl_std,final_modes_kl_nan,final_modes_kl_pending")
    # a cell trained again (its result.json removed) loses the final metric of its earlier training
    stale = {**record, "modes": -1}
    (home / "final.json").write_text(json.dumps(stale))
    (home / "result.json").unlink()
    run_experiment(name, root, progress=lambda m: None)
    assert json.loads((home / "final.json").read_text())["modes"] == record["modes"]
    # measured once: a second call leaves final.json alone; a changed declaration measures again and, until then,
    # the old value is not shown under the new declaration
    stamp = (home / "final.json").stat().st_mtime_ns
    run_experiment(name, root, progress=lambda m: None)
    assert (home / "final.json").stat().st_mtime_ns == stamp
    exp.final = Final(("--metrics", "modes", "--n", "400", "--seed", "3"), ("modes",))
    assert collect(name, root)[0]["final_modes_pending"] == 2
    run_experiment(name, root, progress=lambda m: None)
    assert json.loads((home / "final.json").read_text())["protocol"]["modes"]["n_gen"] == 400
    exp.final = Final(("--metrics", "modes", "--n", "400"), ("fid",))
    with pytest.raises(GankitError, match="1 of 1 final metrics failed .* gives modes, modes_hq_fraction, .*, not fid"):
        run_experiment(name, root, progress=lambda m: None)
    assert "final_fid" in (root / name / "summary.md").read_text()  # the tables were still rebuilt
    EXPERIMENTS._items.pop(name, None)


def test_a_finished_cell_trained_under_another_declaration_is_reported(tmp_path):
    """A cell finished under one declaration (lr 1e-3) and found again after the study changed it (lr 2e-3): the run
    warns with the key and both values and does not retrain it; the unchanged declaration gives no warning."""
    name = "test-stale"
    base = {"train.kimg": 0.064, "train.snapshot_kimg": 0.064, "train.metrics": "modes", "train.eval_n": 200,
            "train.tensorboard": False, "train.batch": 32}

    def declare(lr: float) -> None:
        EXPERIMENTS._items.pop(name, None)
        EXPERIMENTS.register(name)(Experiment("stale", {"grid25": ("mlp-grid25", base)},
                                              [Method("a", {"train.lr": lr})], ["modes"], seeds=[1],
                                              plot=("modes", "modes")))

    declare(1e-3)
    root = tmp_path / "exp"
    run_experiment(name, root, progress=lambda m: None)
    said: list[str] = []
    run_experiment(name, root, progress=said.append)
    assert not any("other settings" in line for line in said)
    result = cells(EXPERIMENTS.get(name))[0].path(root / name) / "result.json"
    stamp = result.stat().st_mtime_ns
    declare(2e-3)
    said = []
    run_experiment(name, root, progress=said.append)
    warned = [line for line in said if "other settings" in line]
    assert len(warned) == 1 and "1 finished cells" in warned[0] and "train.lr: trained 0.001, declared 0.002" in warned[0]
    assert result.stat().st_mtime_ns == stamp  # kept, not retrained


def test_the_regime_pilot_spans_at_least_16x_d_parameters_and_a_few_hundred_to_unbounded_reals():
    """Issue 26 asks D's capacity from today's up to at least 16x the parameters, and distinct reals from a few hundred
    to unbounded: the pilot's largest D, built as its cells build it, against its smallest, and its pools."""
    import gankit.lab  # noqa: F401  (registers the declared studies)
    from gankit.networks import build_networks
    from gankit.presets import resolve

    exp = EXPERIMENTS.get("r3gan-regime-pilot")
    d_params, pools = {}, set()
    for c in cells(exp):
        cfg = resolve(c.preset, dict(c.sets))
        pools.add(cfg.data.size)
        key = tuple(cfg.model.widths_d)
        if key not in d_params:
            _, D = build_networks(cfg.model, (3, 16, 16), 0)
            d_params[key] = sum(p.numel() for p in D.parameters())
    assert max(d_params.values()) >= 16 * min(d_params.values()), d_params
    assert min(pools) <= 1000 and max(pools) >= 1_000_000  # 40k images of a 1M pool: no triple shown twice

