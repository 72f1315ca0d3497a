"""The study scripts: ablation_tests.py (configurations against a reference, p-values worked by hand) and mma_heads.py's
head-specialisation measure on hand-made logits, study_convergence.py, metric_cost.py and d_runaway.py on hand-made run folders."""
import csv
import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ablation_tests.py"


def write(root: Path, rows: list[dict]) -> None:
    with open(root / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["dataset", "method", "K", "seed", "status", "modes"])
        w.writeheader()
        w.writerows(rows)


def run(root: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, str(SCRIPT), str(root), "--metrics", "modes", *args], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_configurations_against_a_reference(tmp_path):
    rows = [{"dataset": "ring8", "method": "dcgan", "K": "", "seed": s, "status": "ok", "modes": m}
            for s, m in enumerate([4, 5, 6])]
    rows += [{"dataset": "ring8", "method": "mma", "K": 4, "seed": s, "status": "ok", "modes": m} for s, m in enumerate([1, 2, 3])]
    rows += [{"dataset": "ring8", "method": "mma", "K": 16, "seed": s, "status": "ok", "modes": m}
             for s, m in enumerate([4, 5, 6, float("nan")])]
    rows += [{"dataset": "ring8", "method": "mma", "K": 16, "seed": 9, "status": "diverged", "modes": ""}]
    write(tmp_path, rows)
    lines = {line.split(" | ")[0].lstrip("| "): line for line in run(tmp_path, "--ref", "dcgan").splitlines()[2:]
             if line.startswith("|")}
    assert set(lines) == {"dcgan", "mma K4", "mma K16"}  # K4 and K16 are separate configurations, not pooled
    # [1,2,3] vs [4,5,6]: difference -3; Welch t = -3 / sqrt(1/3 + 1/3) on 4 degrees of freedom, p = 0.0213, and
    # the interval -3 +- t_0.975(4) SE = -3 +- 2.7764 x 0.8165 = [-5.27, -0.733]; Holm over the table's 2 tests
    # (K4 and K16 against dcgan): 2 x 0.0213 = 0.043; Mann-Whitney, complete separation of 3 and 3: exact two-sided
    # p = 2 / C(6,3) = 0.1
    k4 = lines["mma K4"]
    assert "2 +- 1; -3 [-5.27, -0.733], p_t 0.021 (Holm 0.043), p_U 0.1" in k4
    assert "no difference" not in k4
    # K16 equals the reference on its finite seeds: a NaN counted, a diverged seed counted, p_U = 1
    assert "| 4 / 5 |" in lines["mma K16"] and "(1 NaN)" in lines["mma K16"] and "p_U 1" in lines["mma K16"]


def test_minimum_detectable_difference_worked_by_hand(tmp_path):
    """[2,3,4] vs [1,2,3]: SE = sqrt(1/3 + 1/3) = 0.8165 on Welch's 4 degrees of freedom; t tables give t_0.975 =
    2.7764 and t_0.80 = 0.9410, so the difference detected with 80% power is 3.7174 x 0.8165 = 3.035. Catches normal
    quantiles in place of t's (2.29), a missing power term (2.27) and the standard deviation in place of the SE.
    The test finds nothing (t = 1 / 0.8165 = 1.22 on 4 df: p 0.29), so the wording claims no more than that."""
    rows = [{"dataset": "d", "method": "a", "K": "", "seed": s, "status": "ok", "modes": m} for s, m in enumerate([2, 3, 4])]
    rows += [{"dataset": "d", "method": "b", "K": "", "seed": s, "status": "ok", "modes": m} for s, m in enumerate([1, 2, 3])]
    write(tmp_path, rows)
    out = run(tmp_path, "--ref", "a")
    assert "-1 [-3.27, +1.27], p_t 0.29 (Holm 0.29)" in out and "no difference detected (detectable: 3.04)" in out
    assert "Holm's correction over the 1 tests" in out


def test_an_unknown_reference_lists_the_configurations(tmp_path):
    write(tmp_path, [{"dataset": "d", "method": "mma", "K": 4, "seed": 0, "status": "ok", "modes": 1}])
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--ref", "mma"], capture_output=True, text=True)
    assert out.returncode != 0 and "it has mma K4" in out.stderr


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPT.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_head_profile_on_hand_made_heads():
    profile = load_script("mma_heads").head_profile
    modes = torch.tensor([0] * 6 + [1] * 6 + [-1] * 3)  # -1: low quality, left out of the per-mode profile
    hi, lo = math.log(9), -math.log(9)  # sigmoid: 0.9 and 0.1
    # head 0 fires on mode 0, head 1 on mode 1: R = [[.9, .1], [.1, .9]], centred per head [[.4, -.4], [-.4, .4]], whose
    # mean over heads is 0 per mode: spec = 1; each mode has its own winning head; the logits anti-correlate exactly
    own = torch.tensor([[hi, lo]] * 6 + [[lo, hi]] * 6 + [[0.0, 0.0]] * 3)
    corr, spec, winners, used = profile(own, modes)
    assert (round(corr, 6), round(spec, 6), winners, used) == (round(-1.0, 6), 1.0, 2, 2)
    # two copies of one head: one function twice, corr 1, spec 0, one head (the first) wins both modes
    same = torch.tensor([[hi, hi]] * 6 + [[lo, lo]] * 6 + [[0.0, 0.0]] * 3)
    corr, spec, winners, used = profile(same, modes)
    assert (round(corr, 6), spec, winners) == (1.0, 0.0, 1)
    # head 1 = head 0 plus 0.05 in D_k (0.95 and 0.15): one profile over modes, spec 0 (offsets are not specialisation)
    shifted = torch.tensor([[hi, math.log(.95 / .05)]] * 6 + [[lo, math.log(.15 / .85)]] * 6 + [[0.0, 0.0]] * 3)
    assert profile(shifted, modes)[1] < 1e-12
    # a mode with fewer than 5 samples is not used
    assert profile(own[:16], torch.tensor([0] * 6 + [1] * 4 + [-1] * 6))[3] == 1


def test_metric_columns_not_asked_for_are_not_configurations(tmp_path):
    """results.csv carries every metric of the study; a metric left out of --metrics (here fid) must not split the
    configurations (catches reading every non-fixed column as a swept value)."""
    with open(tmp_path / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["dataset", "method", "K", "seed", "status", "modes", "fid"])
        w.writeheader()
        w.writerows([{"dataset": "d", "method": m, "K": k, "seed": s, "status": "ok", "modes": s + 1, "fid": 10.0 * s}
                     for m, k in [("dcgan", ""), ("mma", 4)] for s in range(3)])
    lines = [line.split(" | ")[0].lstrip("| ") for line in run(tmp_path, "--ref", "dcgan").splitlines()[2:]
             if line.startswith("|")]
    assert lines == ["dcgan", "mma K4"]


def fake_cell(root: Path, method: str, config: str, seed: int, kimgs: list[float], metric: list[float], rate: float,
              status: str = "ok", slow_after: float = float("inf")) -> None:
    import json

    cell = root / "d" / method / config / f"seed{seed}"
    (cell / "run").mkdir(parents=True)
    (cell / "result.json").write_text(json.dumps({"status": status}))
    rows = [{"kimg": k / 2, "img_per_s": rate if k / 2 <= slow_after else rate / 5} for k in kimgs] + [{"kimg": k, "modes": v} for k, v in zip(kimgs, metric)]
    rows.insert(-1, {"kimg": kimgs[-1] - 1, "event": "stop", "message": "SIGTERM"})  # an event row is no snapshot
    (cell / "run" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_study_convergence_last_snapshots_and_equal_wall_time(tmp_path):
    """Means over seeds at the last three snapshots, s per 1k images from the logged img/s, and each configuration's
    last snapshot inside the reference's training time, all worked by hand."""
    report = load_script("study_convergence").report
    fake_cell(tmp_path, "dcgan", "default", 0, [10, 20, 30, 40], [1, 2, 3, 4], rate=1000)  # 1 s per 1k: 40 s in all
    fake_cell(tmp_path, "dcgan", "default", 1, [10, 20, 30, 40], [3, 4, 5, 6], rate=1000)
    fake_cell(tmp_path, "mma", "K4", 0, [10, 20, 30, 40], [7, 8, 9, 10], rate=500)  # 2 s per 1k: 20 kimg in 40 s
    fake_cell(tmp_path, "mma", "K4", 1, [10, 20, 30, 40], [0, 0, 0, 0], rate=500, status="diverged")  # not counted
    text = report(tmp_path, ["modes"], "dcgan")
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("| "):
            rows.setdefault(line.split(" | ")[0].lstrip("| "), []).append(line)  # [its convergence row, its wall row]
    assert rows["dcgan"][0].startswith("| dcgan | 2 | 3 / 4 / 5 | 20, 30, 40 | 1 |")
    assert rows["mma K4"][0].startswith("| mma K4 | 1 | 8 / 9 / 10 | 20, 30, 40 | 2 |")
    assert "(40 s at 1 thread)" in text
    assert rows["dcgan"][1] == "| dcgan | 40 | 5 |" and rows["mma K4"][1] == "| mma K4 | 20 | 8 |"  # 40 s at 2 s per 1k


def test_study_convergence_rates_from_the_first_kimg_only(tmp_path):
    """Log lines at 5, 10, 15, 20 kimg at 2 s per 1k, then 10 s (a continuation beside more processes): the median
    of all is 6 s, of those up to 12 kimg 2 s; the equal-wall-time column follows (40 s: 20 kimg, not 6.7)."""
    report = load_script("study_convergence").report
    fake_cell(tmp_path, "dcgan", "default", 0, [10, 20, 30, 40], [1, 2, 3, 4], rate=1000)
    fake_cell(tmp_path, "mma", "K4", 0, [10, 20, 30, 40], [7, 8, 9, 10], rate=500, slow_after=12)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in report(tmp_path, ["modes"], None).splitlines()[2:]}
    assert rows["mma K4"].endswith("| 20, 30, 40 | 6 |")
    text = report(tmp_path, ["modes"], "dcgan", rate_kimg=12)
    assert "| mma K4 | 1 | 8 / 9 / 10 | 20, 30, 40 | 2 |" in text and "| mma K4 | 20 | 8 |" in text
    assert "first 12 kimg" in text


def test_gamma_rule_recovers_a_power_law_from_parabolic_sweeps(tmp_path):
    """FID = 50 + 10 (log10 gamma - log10 gamma*)^2 with gamma* = 0.5 R^2 / B at three settings: the parabola's vertex
    finds each gamma* exactly, and the fit recovers C = 0.5, a = 2, b = -1."""
    gr = load_script("gamma_rule")
    settings = {"16px": (16, 32), "32px": (32, 32), "16px-b128": (16, 128)}
    rows = []
    for label, (r, b) in settings.items():
        star = 0.5 * r * r / b  # 4, 16, 1
        for g in (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0):
            for seed, noise in ((0, -1.0), (1, 1.0)):  # seeds symmetric about the curve: the mean is on it
                rows.append({"dataset": label, "method": "r3gan", "gamma": g, "seed": seed, "status": "ok",
                             "fid": 50 + 10 * (math.log10(g) - math.log10(star)) ** 2 + noise})
    rows.append({"dataset": "16px", "method": "r3gan", "gamma": 1.0, "seed": 2, "status": "diverged", "fid": ""})
    with open(tmp_path / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["dataset", "method", "gamma", "seed", "status", "fid"])
        w.writeheader()
        w.writerows(rows)
    data = gr.read(tmp_path, "fid")
    assert len(data["16px"][1.0]) == 2  # the diverged seed is left out
    points = []
    for label, (r, b) in settings.items():
        arg, vert = gr.best_gamma(data[label], higher=False)
        assert vert == pytest_approx(0.5 * r * r / b)
        points.append((r, b, vert))
    c, a, b = gr.fit_power_law(points)
    assert (round(c, 6), round(a, 6), round(b, 6)) == (0.5, 2.0, -1.0)
    # t interval of [1, 3]: mean 2, se 1, t_0.975 with 1 df = 12.706
    lo, hi = gr.t_interval([1.0, 3.0])
    assert abs(lo - (2 - 12.7062)) < 1e-3 and abs(hi - (2 + 12.7062)) < 1e-3
    # the best at an end of the range has no vertex
    assert gr.best_gamma({0.1: [1.0], 1.0: [2.0], 10.0: [3.0]}, higher=False) == (0.1, None)
    assert gr.best_gamma({0.1: [1.0], 1.0: [2.0], 10.0: [3.0]}, higher=True) == (10.0, None)


def test_the_constant_rule_is_the_gamma_with_the_smallest_worst_shortfall():
    """Two settings, worked by hand: A's means 10, 12, 20 and B's 30, 25, 26 at gammas 0.1, 1, 10. Shortfalls from each
    best (A 10, B 25): gamma 0.1 (0, 5) worst 5; gamma 1 (2, 0) worst 2; gamma 10 (10, 1) worst 10. Minimax: gamma 1.
    A gamma one setting never ran is not a candidate; with --higher the signs turn."""
    gr = load_script("gamma_rule")
    data = {"A": {0.1: [9.0, 11.0], 1.0: [12.0], 10.0: [20.0], 100.0: [50.0]}, "B": {0.1: [30.0], 1.0: [25.0], 10.0: [26.0]}}
    ranked = gr.constant_rule(data, ["A", "B"], higher=False)
    assert [(g, w) for g, w, _ in ranked] == [(1.0, 2.0), (0.1, 5.0), (10.0, 10.0)]
    assert ranked[0][2] == {"A": 2.0, "B": 0.0}
    up = gr.constant_rule({k: {g: [-x for x in v] for g, v in d.items()} for k, d in data.items()}, ["A", "B"], higher=True)
    assert [(g, w) for g, w, _ in up] == [(1.0, 2.0), (0.1, 5.0), (10.0, 10.0)]


def pytest_approx(x):
    import pytest

    return pytest.approx(x, rel=1e-9)


def test_a_difference_lost_to_the_correction_is_not_called_no_difference(tmp_path):
    """[1,2,3] vs [4,5,6] has Welch p 0.0213 (worked above); beside two more arms equal to the reference, Holm over
    the 3 tests gives 3 x 0.0213 = 0.064: not significant after correction, yet the single test did find it, so the
    cell says so instead of "no difference detected"."""
    rows = [{"dataset": "d", "method": "ref", "K": "", "seed": s, "status": "ok", "modes": m} for s, m in enumerate([4, 5, 6])]
    rows += [{"dataset": "d", "method": "low", "K": "", "seed": s, "status": "ok", "modes": m} for s, m in enumerate([1, 2, 3])]
    for name in ("same1", "same2"):
        rows += [{"dataset": "d", "method": name, "K": "", "seed": s, "status": "ok", "modes": m}
                 for s, m in enumerate([4, 5, 6])]
    write(tmp_path, rows)
    low = next(ln for ln in run(tmp_path, "--ref", "ref").splitlines() if ln.startswith("| low "))
    assert "p_t 0.021 (Holm 0.064)" in low and "significant before correction only" in low
    assert "no difference detected" not in low


def test_shipped_cells_restore_where_the_experiment_finds_them(tmp_path):
    """scripts/restore_cells.py: --ship flattens finished cells (config, log, result, final metric); restoring them puts result.json
    at the cell's top and the run's files under run/, so `gankit experiment` counts them finished; an unfinished cell
    is not shipped and a cell already present is left alone."""
    rc = load_script("restore_cells")
    study = tmp_path / "exp" / "s"
    done = study / "grid" / "m" / "default" / "seed1"
    (done / "run").mkdir(parents=True)
    (done / "run" / "config.json").write_text("{}")
    (done / "run" / "metrics.jsonl").write_text('{"kimg": 1}\n')
    (done / "result.json").write_text('{"status": "ok"}')
    (done / "final.json").write_text('{"args": [], "fid": 1.5}')  # the study's final metric, beside result.json
    (study / "grid" / "m" / "default" / "seed2" / "run").mkdir(parents=True)  # unfinished: no result.json
    shipped = tmp_path / "docs" / "cells"
    assert rc.ship(study, shipped) == 1
    flat = shipped / "grid" / "m" / "default" / "seed1"
    assert sorted(p.name for p in flat.iterdir()) == ["config.json", "final.json", "metrics.jsonl", "result.json"]
    assert not (shipped / "grid" / "m" / "default" / "seed2").exists()
    fresh = tmp_path / "fresh" / "s"
    assert rc.restore(shipped, fresh) == 1 and rc.restore(shipped, fresh) == 0  # the second time: already there
    cell = fresh / "grid" / "m" / "default" / "seed1"
    assert (cell / "result.json").read_text() == '{"status": "ok"}'
    assert (cell / "final.json").read_text() == '{"args": [], "fid": 1.5}'
    (cell / "final.json").unlink()  # a cell already here without the final metric measured elsewhere: it comes along
    assert rc.restore(shipped, fresh) == 0 and (cell / "final.json").exists()
    assert (cell / "run" / "metrics.jsonl").read_text() == '{"kimg": 1}\n' and (cell / "run" / "config.json").exists()


def _arch_run(run: Path, preset: str, seed: int, modes: list[float], kl: float, fid: float) -> None:
    """A finished run folder as the trainer leaves it: config.json, run.json, metrics.jsonl (2 log lines, snapshots)."""
    import json
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"preset": preset, "model": {"arch": "dcgan"}, "train": {"seed": seed},
                                                 "loss": {"name": "hinge", "regularizers": []}}))
    (run / "run.json").write_text(json.dumps({"threads": 1, "g_params": 266_400, "d_params": 136_100}))
    lines = [{"time": 0.0, "kimg": 0.5, "loss_d": 1.0, "img_per_s": 999.0},
             {"time": 120.0, "kimg": 200.0, "loss_d": 1.0, "img_per_s": 800.0}]
    lines += [{"kimg": 50.0 * (i + 1), "modes": m, "modes_kl": kl, "modes_hq_fraction": 0.5, "fid": fid}
              for i, m in enumerate(modes)]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")


def test_archs_report_groups_a_study_by_preset_with_mean_and_sample_std(tmp_path):
    study = tmp_path / "archs-digits" / "stacked-digits"
    _arch_run(study / "dcgan" / "default" / "seed42" / "run", "dcgan-digits", 42, [600, 700], 1.0, 10.0)
    _arch_run(study / "dcgan" / "default" / "seed43" / "run", "dcgan-digits", 43, [700, 900], 2.0, float("nan"))
    _arch_run(study / "dcgan" / "default" / "seed44" / "run", "dcgan-digits", 44, [800, 800], 3.0, 14.0)
    _arch_run(study / "sngan" / "default" / "seed42" / "run", "sngan-digits", 42, [900, 950], 0.5, 5.0)
    mod = load_script("archs_report")
    rows = [mod.summarise(r) for r in mod.runs_under(tmp_path / "archs-digits")]
    md, firsts = mod.table(rows)
    dcgan, sngan = md.splitlines()[2:]
    # last modes 700, 900, 800: mean 800, sample std sqrt((100^2 + 100^2 + 0) / 2) = 100; per-snapshot means 700, 800;
    # KL 1, 2, 3: 2 +- 1; FID 10, NaN, 14: 12 +- 2.8 with the NaN counted; params from run.json; 3 seeds
    assert "| 700, 800 | 800 +- 100 | 2 +- 1 | 0.5 +- 0 | 12 +- 2.83 (1 NaN) |" in dcgan
    assert "| 266k / 136k | 200 | 3 | 2.0 (1) | 800 |" in dcgan  # minutes (120 s), img/s without the first line
    assert "| 1 | " in sngan and "| 950 | 0.5 | 0.5 | 5 |" in sngan  # one seed: a value, no spread
    assert [p for p, _ in firsts] == ["dcgan-digits", "sngan-digits"] and firsts[0][1]["seed"] == 42


def test_truncation_compare_tables_each_sweep_and_draws_one_figure(tmp_path):
    for label, fid in (("a", 70.0), ("b", 90.0)):
        (tmp_path / label).mkdir()
        (tmp_path / label / "truncation.csv").write_text(
            f"truncation,fid,pr_precision,pr_recall\n0.0,{fid},0.5,0.4\n1.0,{fid + 5},0.6,0.2\n")
    out = subprocess.run([sys.executable, str(SCRIPT.parent / "truncation_compare.py"), f"BigGAN={tmp_path / 'a'}",
                          f"R3GAN={tmp_path / 'b'}", "--out", str(tmp_path / "t.png")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows == ["| BigGAN | none | 70.0 | 0.500 | 0.400 |", "| BigGAN | 1 | 75.0 | 0.600 | 0.200 |",
                    "| R3GAN | none | 90.0 | 0.500 | 0.400 |", "| R3GAN | 1 | 95.0 | 0.600 | 0.200 |"]
    assert (tmp_path / "t.png").stat().st_size > 10_000
    missing = subprocess.run([sys.executable, str(SCRIPT.parent / "truncation_compare.py"), f"x={tmp_path / 'none'}",
                              "--out", str(tmp_path / "u.png")], capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "truncation.csv does not exist" in missing.stderr
    (tmp_path / "psi").mkdir()
    (tmp_path / "psi" / "truncation.csv").write_text("psi,fid\n1.0,70\n")
    psi = subprocess.run([sys.executable, str(SCRIPT.parent / "truncation_compare.py"), f"x={tmp_path / 'psi'}",
                          "--out", str(tmp_path / "v.png")], capture_output=True, text=True, timeout=120)
    assert psi.returncode != 0 and "lacks pr_precision, pr_recall, truncation" in psi.stderr, psi.stderr
    assert "Traceback" not in psi.stderr


def test_metric_cost_in_loop_and_final_seconds(tmp_path):
    """Snapshot metric seconds from the log's time and rate, worked by hand: a log line at 100 images (t 10 s, 10 img/s)
    puts training at 150 images at t 15, so a snapshot written at t 20 took 5 s; a snapshot at a log line's own image
    count (t 30) written at t 33 took 3 s. final.json's fid and kid share generate 1 s and extract 37 (57) s and add
    a score of 1 s each: 40 and 60 s, median 50, apart from their shared references (400 and 600 s: median 500,
    largest 600); a failed cell counts for nothing, and an event row (a stop) ends the log line's span."""
    import json

    mod = load_script("metric_cost")
    rows = [{"images": 100, "time": 10.0, "img_per_s": 10.0}, {"images": 150, "time": 20.0, "fid": 9.0},
            {"images": 170, "time": 21.0, "event": "stop"}, {"images": 180, "time": 25.0, "fid": 7.0},
            {"images": 200, "time": 30.0, "img_per_s": 10.0}, {"images": 200, "time": 33.0, "fid": 8.0}]
    rows = [{**r, "kimg": r["images"] / 1000} for r in rows]
    for seed, (secs, status) in enumerate([(40, "ok"), (60, "ok"), (999, "diverged")]):
        cell = tmp_path / "cifar10" / "r3gan" / "default" / f"seed{seed}"
        (cell / "run").mkdir(parents=True)
        (cell / "result.json").write_text(json.dumps({"status": status}))
        shared = {"generate": 1, "extract": secs - 3, "reference": 10 * secs}  # fid and kid: one eval, two scores
        (cell / "final.json").write_text(json.dumps({"seconds": {"fid": {**shared, "score": 1},
                                                                 "kid": {**shared, "score": 1}},
                                                       **({"threads": 2} if seed else {})}))
        (cell / "run" / "run.json").write_text(json.dumps({"threads": 1}))
        (cell / "run" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert mod.snapshot_seconds(tmp_path / "cifar10/r3gan/default/seed0/run/metrics.jsonl") == [5.0, 3.0]
    assert mod.report(tmp_path).splitlines()[2] == "| r3gan | 2 | 1 | 5 | 3 | 50, 2 | 500 / 600 | 2, ? |"
    for run in tmp_path.glob("cifar10/r3gan/default/seed*/run"):  # a shipped cell: its run's files beside result.json
        for f in run.iterdir():
            f.rename(run.parent / f.name)
        run.rmdir()
    assert mod.report(tmp_path).splitlines()[2] == "| r3gan | 2 | 1 | 5 | 3 | 50, 2 | 500 / 600 | 2, ? |"


def test_d_runaway_merges_a_resumed_run_s_repeated_rows(tmp_path):
    """A run killed after its 2-kimg snapshot and resumed from its 1-kimg checkpoint logs kimg 2 and its snapshot
    twice; the table reads each once (FID 90 then 80, not 90, 91, 80), with the later of a repeated line's R1."""
    import json

    run = tmp_path / "run"
    run.mkdir()
    line = lambda k, r1: {"kimg": k, "img_per_s": 50.0, "r1": r1, "logit_gap": 0.5, "gamma": 0.001}
    rows = [line(1, 1.0), line(2, 2.0), {"kimg": 2, "fid": 91.0}, line(2, 4.0), {"kimg": 2, "fid": 90.0},
            line(3, 3.0), line(4, 8.0), {"kimg": 4, "fid": 80.0}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = subprocess.run([sys.executable, str(SCRIPT.with_name("d_runaway.py")), f"resumed={tmp_path}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "| resumed | 1 (+0.50), 4 (+0.50), 3 (+0.50), 8 (+0.50) | 8 | 0.001 | 90.0, 80.0 |" in out.stdout, out.stdout


def test_d_runaway_draws_the_r1_panel_alone_until_a_run_has_a_snapshot(tmp_path):
    """No run with a snapshot yet (a run stopped before its first): one panel, R1 against images, at 5.5 x 3.8
    inches; a snapshot in any run adds the FID panel beside it (10 x 3.8). The PNG's header holds its size. The
    table prints "-" for a quarter before the log's first line."""
    import json
    import struct

    def width_over_height(rows: list[dict]) -> float:
        run = tmp_path / f"run{len(rows)}"
        run.mkdir()
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        png = run / "fig.png"
        out = subprocess.run([sys.executable, str(SCRIPT.with_name("d_runaway.py")), f"a={run}", "--out", str(png)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "| a | -, 1 (+0.50), 1 (+0.50), 2 (+0.50) |" in out.stdout, out.stdout
        w, h = struct.unpack(">II", png.read_bytes()[16:24])  # the IHDR chunk's width and height
        return w / h

    line = lambda k: {"kimg": k, "img_per_s": 50.0, "r1": float(k), "logit_gap": 0.5, "gamma": 0.001}
    assert abs(width_over_height([line(1), line(2)]) - 5.5 / 3.8) < 0.02
    assert abs(width_over_height([line(1), line(2), {"kimg": 2, "fid": 90.0}]) - 10 / 3.8) < 0.02


def test_two_studies_pooled_and_narrowed_with_only(tmp_path):
    """The reference in one study, the arm in another: [1,2,3] vs [4,5,6] is -3 [-5.27, -0.733] (worked above), with
    Holm over that one test alone, since --only leaves out the third configuration."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    write(a, [{"dataset": "d", "method": "ref", "K": "", "seed": s, "status": "ok", "modes": m}
              for s, m in enumerate([4, 5, 6])])
    write(b, [{"dataset": "d", "method": m, "K": "", "seed": s, "status": "ok", "modes": v}
              for m, vs in (("arm", [1, 2, 3]), ("other", [9, 9, 10])) for s, v in enumerate(vs)])
    out = subprocess.run([sys.executable, str(SCRIPT), str(a), str(b), "--metrics", "modes", "--ref", "ref",
                          "--only", "ref,arm"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "-3 [-5.27, -0.733], p_t 0.021 (Holm 0.021)" in out.stdout and "other" not in out.stdout
    assert "over the 1 tests" in out.stdout
    bad = subprocess.run([sys.executable, str(SCRIPT), str(a), str(b), "--metrics", "modes", "--ref", "ref",
                          "--only", "ref,nope"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--only names nope" in bad.stderr and "ref, arm, other" in bad.stderr


def test_run_minutes_splits_wall_time_into_snapshots_and_training(tmp_path):
    """Two log lines at 10 and 5 img/s (100 images each: 10 s and 20 s), a timed snapshot of 6 s at the end: wall
    36 s, training 30 s, median rate 7.5 img/s, so 200 images at it take 26.7 s."""
    import json

    run = tmp_path / "cell" / "run"
    run.mkdir(parents=True)
    rows = [{"time": 10.0, "images": 100, "kimg": 0.1, "img_per_s": 10.0}, {"time": 30.0, "images": 200, "kimg": 0.2, "img_per_s": 5.0},
            {"time": 36.0, "images": 200, "kimg": 0.2, "fid": 9.0, "snapshot_s": 6.0}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    m = load_script("run_minutes").minutes(tmp_path / "cell")
    assert (m["wall"] * 60, m["snapshots"] * 60, m["train"] * 60, m["median"]) == (36.0, 6.0, 30.0, 7.5)
    assert not m["estimated"] and round(m["images"] / m["median"], 6) == round(200 / 7.5, 6)
