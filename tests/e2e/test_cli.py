"""The command line end to end on a tiny preset, and its one-line errors on bad input."""
import json
import subprocess
import sys

import numpy as np
import torch
import pytest
from PIL import Image

from gankit.cli import main

TINY = ["--preset", "r3gan-tiny", "--set", "train.threads=2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def test_train_writes_every_file(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"config.json", "run.json", "metrics.jsonl", "reals.png", "checkpoints"} <= names
    grids = sorted(tiny_run.glob("samples-?????????.png"))
    assert len(grids) == 4 and Image.open(grids[-1]).size[0] > 64
    assert len(list(tiny_run.glob("samples-*-channels.png"))) == 4  # stacked digits, channel by channel
    ckpts = sorted((tiny_run / "checkpoints").glob("ckpt-*.safetensors"))
    assert ckpts and ckpts[-1].with_suffix(".json").exists()
    cfg = json.loads((tiny_run / "config.json").read_text())
    assert cfg["preset"] == "r3gan-tiny" and cfg["loss"]["regularizers"] == ["r1", "r2"]
    lines = [json.loads(ln) for ln in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["images"] == 128 and "modes" in lines[-1] and "modes_kl" in lines[-1]
    assert any("loss_d" in ln and "r1" in ln and "r2" in ln and "lr" in ln for ln in lines)


def test_generate_is_deterministic(tiny_run, tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    for path, seed in ((a, 3), (b, 3), (c, 4)):
        assert main(["generate", "--run", str(tiny_run), "--n", "9", "--out", str(path), "--seed", str(seed)]) == 0
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    assert not np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(c)))
    npz = tmp_path / "s.npz"
    assert main(["generate", "--run", str(tiny_run), "--n", "5", "--out", str(npz)]) == 0
    arr = np.load(npz)["samples"]
    assert arr.shape == (5, 3, 8, 8) and arr.dtype == np.uint8


def test_python_api_three_lines(tiny_run):
    import gankit
    G = gankit.load_generator(tiny_run)
    x = gankit.generate(G, 4, seed=0)
    assert x.shape == (4, 3, 8, 8)


def test_rerun_of_finished_run_overwrites_nothing(tiny_run, capsys):
    before = {p: p.stat().st_mtime_ns for p in tiny_run.rglob("*") if p.is_file() and p.name != "config.json"}
    assert main(["train", *TINY, "--out", str(tiny_run)]) == 0
    assert "already complete" in capsys.readouterr().out
    after = {p: p.stat().st_mtime_ns for p in tiny_run.rglob("*") if p.is_file() and p.name != "config.json"}
    assert before == after


def test_resume_extends_a_run(tmp_path):
    out = tmp_path / "r"
    assert main(["train", *TINY, "--kimg", "0.064", "--out", str(out)]) == 0
    assert main(["train", *TINY, "--kimg", "0.096", "--out", str(out)]) == 0
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(ln["images"] for ln in lines) == 96
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["kimg"] == 0.096 and cfg["train"]["horizon_kimg"] == 0.064  # T kept on resume


@pytest.mark.parametrize("args,message", [
    (["train", "--preset", "nope"], "unknown preset 'nope'; valid preset names: .*r3gan-cifar10"),
    (["train", *TINY, "--set", "data.name=imagenet-1k"], "unknown dataset 'imagenet-1k'; valid dataset names"),
    (["train", *TINY, "--set", "loss.name=wgan9"], "unknown loss 'wgan9'; valid loss names"),
    (["train", *TINY, "--set", "data.resolution=12"], "12"),
    (["train", *TINY, "--set", "train.nope=1"], "unknown config key 'train.nope'"),
    (["train", *TINY, "--set", "train.batch=abc"], "not a valid int"),
    (["train", *TINY, "--set", "novalue"], "KEY=VALUE"),
    (["train", "--preset", "r3gan-cifar10", "--data", "/no/such/folder"], "does not exist"),
    (["generate", "--run", "/no/such/run", "--out", "x.png"], "not a gankit run"),
    (["generate", "--run", "/no/such/run", "--out", "x.jpg"], "must end in .png"),
])
def test_bad_input_one_line_error(args, message, tmp_path, capsys):
    code = main(args + (["--out", str(tmp_path / "o")] if args[0] == "train" else []))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("gankit: error:") and err.count("\n") == 1
    import re
    assert re.search(message, err), err


def test_empty_data_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["train", "--preset", "r3gan-cifar10-uncond", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert code == 2 and "no images" in capsys.readouterr().err.lower()
    assert not (tmp_path / "o").exists()


def test_out_dir_with_a_different_run_is_refused(tiny_run, capsys):
    before = (tiny_run / "config.json").read_text()
    code = main(["train", *TINY, "--set", "loss.gamma=5", "--out", str(tiny_run)])
    err = capsys.readouterr().err
    assert code == 2 and "holds a different run" in err and "loss.gamma" in err
    code = main(["train", *TINY, "--set", "model.widths=[32,8]", "--out", str(tiny_run)])  # another architecture
    err = capsys.readouterr().err
    assert code == 2 and "model.widths" in err
    assert (tiny_run / "config.json").read_text() == before


def test_out_dir_with_other_files_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["train", *TINY, "--out", str(tmp_path)]) == 2
    assert "no gankit run" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine" and len(list(tmp_path.iterdir())) == 1


def test_presets_and_describe(capsys):
    assert main(["presets"]) == 0
    listing = capsys.readouterr().out
    assert "r3gan-ffhq256" in listing and "(default)" in listing
    assert main(["describe", "--preset", "r3gan-cifar10", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert abs(info["g_params"] / 1e6 - 20.78) < 0.01 and abs(info["d_params"] / 1e6 - 21.28) < 0.01
    assert info["config"]["train"]["batch"] == 512


def test_console_script_is_installed():
    r = subprocess.run([sys.executable, "-m", "gankit", "presets"], capture_output=True, text=True)
    assert r.returncode == 0 and "r3gan-tiny" in r.stdout


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    """Stopping at a checkpoint and resuming gives bitwise the weights of one uninterrupted run."""
    from gankit.checkpoint import list_checkpoints, load_checkpoint

    one, two = tmp_path / "one", tmp_path / "two"
    same_t = [*TINY, "--set", "train.horizon_kimg=0.096"]  # one schedule for both runs
    assert main(["train", *same_t, "--kimg", "0.096", "--out", str(one)]) == 0
    assert main(["train", *same_t, "--kimg", "0.048", "--out", str(two)]) == 0
    assert main(["train", *same_t, "--kimg", "0.096", "--out", str(two)]) == 0
    a, _ = load_checkpoint(list_checkpoints(one)[-1])
    b, _ = load_checkpoint(list_checkpoints(two)[-1])
    for net in ("G", "G_ema", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)


def test_eval_run_json_keys_and_best_checkpoint(tiny_run, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    assert main(["eval", "--run", str(tiny_run), "--metrics", "modes,fid,is,pr", "--extractor", "digits",
                 "--n", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"modes", "fid", "is", "pr"}
    assert out["fid"]["protocol"]["n_gen"] == 200 and out["fid"]["protocol"]["n_ref"] == 200
    assert out["fid"]["protocol"]["source"]["network"] == "G_ema" and out["fid"]["value"] > 0
    assert 1 <= out["modes"]["modes"] <= 200 and out["modes"]["num_modes"] == 1000
    # the training loop kept the best snapshot by its first metric (modes) beside the last ones
    best = json.loads((tiny_run / "checkpoints" / "best.json").read_text())["meta"]
    logged = [json.loads(ln) for ln in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert best["metrics"]["modes"] == max(ln["modes"] for ln in logged if "modes" in ln)


def test_checkpoint_picks_the_snapshot_that_is_sampled_and_scored(tiny_run, capsys, tmp_path, monkeypatch):
    """--checkpoint best / NAME samples that snapshot, and the eval's protocol names it and its image count."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    names = [p.stem for p in sorted((tiny_run / "checkpoints").glob("ckpt-*.json"))]
    first, last = names[0], names[-1]
    assert len(names) >= 2
    arrays = {}
    for which in ("latest", first, last, "best"):
        npz = tmp_path / f"{which}.npz"
        assert main(["generate", "--run", str(tiny_run), "--n", "6", "--out", str(npz), "--checkpoint", which]) == 0
        arrays[which] = np.load(npz)["samples"]
    assert np.array_equal(arrays["latest"], arrays[last]) and not np.array_equal(arrays[first], arrays[last])
    best = json.loads((tiny_run / "checkpoints" / "best.json").read_text())["meta"]["images"]
    same = [n for n in names if int(n.split("-")[1]) == best]
    assert not same or np.array_equal(arrays["best"], arrays[same[0]])
    capsys.readouterr()  # generate's lines
    assert main(["eval", "--run", str(tiny_run), "--metrics", "modes", "--n", "50", "--checkpoint", first,
                 "--json"]) == 0
    source = json.loads(capsys.readouterr().out)["modes"]["protocol"]["source"]
    assert source["checkpoint"] == first and source["images"] == int(first.split("-")[1])
    assert main(["eval", "--run", str(tiny_run), "--metrics", "modes", "--n", "50", "--checkpoint", "best", "--json"]) == 0
    source = json.loads(capsys.readouterr().out)["modes"]["protocol"]["source"]
    assert source["checkpoint"] == "best" and source["images"] == best
    assert main(["generate", "--run", str(tiny_run), "--out", str(tmp_path / "x.png"), "--checkpoint", "ckpt-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no checkpoint 'ckpt-1'" in err and f"latest, best, {first}" in err and "\n" not in err


@pytest.mark.parametrize("argv, words", [
    (["--metrics", "kid", "--extractor", "digits", "--n", "50"], "KID draws subsets of 1000"),
    (["--metrics", "fidd"], "unknown metric"),
    (["--protocol", "fid50k"], "unknown metric protocol 'fid50k'; valid metric protocol names: fid10k_full, fid50k_full"),
    (["--protocol", "fid50k_full", "--ref", "cifar10"], "fixes the samples and the reference"),
    (["--metrics", "fid", "--ref", "/nonexistent/x"], "neither an existing path nor a dataset"),
])
def test_eval_bad_input_one_line(tiny_run, capsys, argv, words):
    assert main(["eval", "--run", str(tiny_run), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error:") and words in err and "\n" not in err


def test_snapshot_fid_with_digit_features_and_best_by_fid(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "fidrun"
    assert main(["train", *TINY, "--set", "train.metrics=fid,pr,is", "--set", "train.eval_extractor=digits",
                 "--set", "train.eval_n=200", "--out", str(out)]) == 0
    snaps = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if '"fid"' in ln]
    assert len(snaps) == 4 and all(s["fid"] > 0 and 0 <= s["pr_precision"] <= 1 and s["is_mean"] >= 1 for s in snaps)
    best = json.loads((out / "checkpoints" / "best.json").read_text())["meta"]["metrics"]
    assert best["fid"] == min(s["fid"] for s in snaps)  # lower FID is better
    assert len(list((tmp_path / "cache" / "stats").glob("*.safetensors"))) == 1  # the training set's statistics, cached once


def test_snapshot_kid_needs_enough_samples(tmp_path, capsys):
    assert main(["train", *TINY, "--set", "train.metrics=kid", "--set", "train.eval_n=200", "--out", str(tmp_path / "k")]) == 2
    assert "raise train.eval_n" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()


def test_a_failing_snapshot_metric_is_an_event_not_the_end(tmp_path, monkeypatch):
    import gankit.training.snapshot as snap
    from gankit.errors import GankitError

    def broken(*a, **k):
        raise GankitError("extractor weights vanished")

    monkeypatch.setattr(snap, "snapshot_metrics", broken)
    out = tmp_path / "m"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    errors = [ln for ln in lines if ln.get("event") == "metric_error"]
    assert len(errors) == 4 and "extractor weights vanished" in errors[0]["message"]
    from gankit.checkpoint import list_checkpoints
    assert lines[-1]["images"] == 128 and list_checkpoints(out)


def test_eval_protocol_fixes_counts_reference_and_labels(tmp_path, capsys, monkeypatch):
    """fid10k_full on a conditional run: 10,000 samples, the whole training set (2,000 items) as reference,
    classes drawn from the training set's labels, and the protocol's name in the result."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "cond"
    assert main(["train", *TINY, "--set", "model.cond=true", "--kimg", "0.032", "--set", "train.metrics=none",
                 "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--protocol", "fid10k_full", "--extractor", "digits", "--json"]) == 0
    p = json.loads(capsys.readouterr().out)["fid"]["protocol"]
    assert p["named"]["name"] == "fid10k_full" and p["n_gen"] == 10000 and p["n_ref"] == 2000
    assert p["source"]["labels"] == "drawn at random from the training set's labels"


def test_generate_class_all_gives_one_row_per_class(tmp_path, capsys):
    run = tmp_path / "cond"
    assert main(["train", *TINY, "--set", "model.cond=true", "--kimg", "0.032", "--set", "train.metrics=none",
                 "--out", str(run)]) == 0
    G = __import__("gankit").load_generator(run)
    k = G.num_classes
    sheet, one = tmp_path / "all.png", tmp_path / "one.png"
    assert main(["generate", "--run", str(run), "--n", "3", "--class", "all", "--out", str(sheet)]) == 0
    assert f"wrote {3 * k} samples" in capsys.readouterr().out
    cell = 64 + 2  # 8 px images enlarged to 64, 2 px of padding
    img = np.asarray(Image.open(sheet))
    assert img.shape[:2] == (k * cell + 2, 3 * cell + 2)  # k rows of 3
    # row c holds class c's samples: the same latents and class as `--class c` gives
    for c in (0, k - 1):
        npz = tmp_path / f"c{c}.npz"
        assert main(["generate", "--run", str(run), "--n", str(3 * k), "--class", str(c), "--out", str(npz)]) == 0
        want = np.load(npz)["samples"][3 * c: 3 * c + 3]  # latents are drawn for all 3k samples from one seed
        for j in range(3):  # each enlarged cell subsampled back to 8x8
            got = img[2 + c * cell: 2 + c * cell + 64: 8, 2 + j * cell: 2 + j * cell + 64: 8]
            assert np.array_equal(got.transpose(2, 0, 1), want[j])
    capsys.readouterr()
    assert main(["generate", "--run", str(run), "--n", "3", "--class", "some", "--out", str(one)]) == 2
    assert "--class takes a class index or 'all', got 'some'" in capsys.readouterr().err

