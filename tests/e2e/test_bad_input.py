"""Bad input to the real command line: exit code 2, one line on stderr naming the problem, no traceback, and no
run directory written. Each row is one malformed command."""
from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gankit.cli import main

T = ["train", "--preset", "r3gan-tiny", "--set", "train.metrics=none", "--set", "train.tensorboard=false"]
BAD_SETS = [
    ("train.lr=nan", "finite"), ("train.lr=inf", "finite"), ("train.lr=-1e-3", "> 0"), ("train.lr=0", "> 0"),
    ("train.lr_final=-1", ">= 0"), ("train.kimg=0", "> 0"), ("train.kimg=-5", "> 0"), ("train.kimg=inf", "finite"),
    ("train.batch=0", ">= 1"), ("train.batch=-8", ">= 1"), ("train.batch=2.5", "not a valid int"),
    ("train.batch=many", "not a valid int"), ("train.beta1=1", "[0, 1)"), ("train.beta1=-0.1", "[0, 1)"),
    ("train.beta2=1.5", "[0, 1)"), ("train.beta2_final=1", "[0, 1)"), ("train.betas_d=0.5", "two numbers"),
    ("train.betas_d=0.5,1.2", "two numbers"), ("train.aug_p=1.5", "[0, 1]"), ("train.aug_p=-0.1", "[0, 1]"),
    ("train.ema_kimg=-1", ">= 0"), ("train.n_critic=0", ">= 1"), ("train.grid=0", ">= 1"), ("train.eval_n=0", ">= 1"),
    ("train.keep_checkpoints=0", ">= 1"), ("train.nonfinite_lr_factor=1", "(0, 1)"),
    ("train.nonfinite_lr_factor=0", "(0, 1)"), ("train.max_rollbacks=-1", ">= 0"), ("train.device=tpu", "cuda:N"),
    ("train.lr_d_ratio=0", "> 0"), ("train.threads=-2", ">= 0"), ("train.snapshot_kimg=-1", ">= 0"),
    ("train.prefetch=-3", "train.prefetch"), ("train.tf32=maybe", "not a valid bool"),
    ("loss.gamma=-1", ">= 0"), ("loss.gamma=nan", "finite"), ("loss.gamma_final=-0.1", ">= 0"),
    ("loss.lambda_gp=-10", ">= 0"), ("loss.smooth_real=2", "[0, 1]"), ("loss.reg_interval=0", ">= 1"),
    ("loss.mma_batch=0", ">= 1"), ("loss.name=nope", "nope"), ("loss.regularizers=r1,r9", "r9"),
    ("model.z_dim=0", ">= 1"), ("model.widths=16,0", "positive integers"), ("model.groups=0,2", "positive integers"),
    ("model.blocks=0", ">= 1"), ("model.arch=vit", "vit"), ("model.style_mixing=1.5", "[0, 1]"),
    ("model.expansion=-2", ">= 0"), ("data.name=cifar", "cifar"), ("train.bogus=1", "unknown config key"),
    ("bogus.key=1", "unknown config key"), ("preset=r3gan-digits", "use --preset"), ("train.kimg", "KEY=VALUE"),
    ("train.seed=9223372036854775808", "[0, 2^63)"), ("train.seed=-1", ">= 0"),
    ("train.batch=100000000", "at most 65,536"), ("train.batch_gpu=1e9", "at most 65,536"),
    ("train.tensorboard=2", "not a valid bool"), ("loss.gamma=0", "(0, inf)"), ("loss.gamma_final=0", "(0, inf)"),
    ("loss.lazy_form=stylegan3", "valid lazy form names: fused, stylegan2"), ("train.d_probe=-1", ">= 0"),
]


@pytest.mark.parametrize("item, message", BAD_SETS, ids=[b[0] for b in BAD_SETS])
def test_a_bad_value_is_one_line_and_writes_nothing(tmp_path: Path, capsys, item: str, message: str) -> None:
    out = tmp_path / "run"
    assert main([*T, "--set", item, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: ") and "\n" not in err and message in err, err
    assert not out.exists()


BAD_COMMANDS = [
    (["train", "--preset", "nope"], "nope"),
    (["train", "--kimg", "nan", "--preset", "r3gan-tiny"], "finite"),
    (["train", "--kimg", "-1", "--preset", "r3gan-tiny"], "> 0"),
    (["generate", "--run", "/nonexistent/run", "--n", "4", "--out", "x.png"], "not a gankit run"),
    (["generate", "--run", "/nonexistent/run", "--n", "0", "--out", "x.png"], "--n"),
    (["generate", "--run", "/nonexistent/run", "--n", "4", "--out", "x.jpg"], ".png"),
    (["eval", "--images", "/nonexistent/folder", "--metrics", "modes", "--n", "10"], "/nonexistent/folder"),
    (["eval", "--images", "stackedmnist", "--protocol", "fid99k"], "fid50k_full"),
    (["experiment", "no-such-study"], "no-such-study"),
    (["describe", "--preset", "r3gan-tiny", "--set", "model.z_dim=0"], ">= 1"),
]


@pytest.mark.parametrize("argv, message", BAD_COMMANDS, ids=[" ".join(a[:3]) for a, _ in BAD_COMMANDS])
def test_a_bad_command_is_one_line(tmp_path: Path, capsys, monkeypatch, argv: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: ") and "\n" not in err and message in err, err
    assert not any(tmp_path.iterdir())


def test_debug_shows_the_traceback_in_a_real_subprocess(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "gankit", *T, "--set", "train.lr=nan", "--out", str(tmp_path / "r")]
    plain = subprocess.run(cmd, capture_output=True, text=True)
    debug = subprocess.run(cmd + ["--debug"], capture_output=True, text=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr and len(plain.stderr.strip().splitlines()) == 1
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "train.lr=nan" in debug.stderr


# ------------------------------------------------ the table through real subprocesses, against an existing run

# Each row: argv with placeholders ({run}: a finished run; {damaged}: a run whose config.json is garbage; {file}: a
# plain file; {scratch}: an empty folder; {evil}: a pickle that would create {scratch}/PWNED if it were run), the
# words the one line must hold, and extra environment variables.
EXTRA_ROWS = [
    ([*T, "--set", "train.batch=1e400", "--out", "{run}"], "not a valid int", {}),
    ([*T, "--kimg", "inf", "--out", "{run}"], "finite", {}),
    ([*T, "--out", "{file}/run"], "which is a file", {}),
    ([*T, "--out", "{file}"], "is a file", {}),
    ([*T, "--out", "{damaged}"], "is damaged", {}),
    ([*T, "--out", "{run}"], "unset WORLD_SIZE", {"WORLD_SIZE": "2"}),
    ([*T, "--data", "{scratch}", "--out", "{run}"], "reads no files", {}),
    ([*T, "--set", "train.device=cuda:x", "--out", "{run}"], "cuda:N", {}),
    ([*T, "--set", "train.metrics=modes,lpips_div", "--out", "{run}"], "set $GANKIT_LPIPS_TRUNK", {"GANKIT_LPIPS_TRUNK": ""}),
    ([*T, "--set", "train.metrics=lpips_div", "--out", "{run}"], "none.pth does not exist; point --lpips-trunk or $GANKIT_LPIPS_TRUNK",
     {"GANKIT_LPIPS_TRUNK": "{scratch}/none.pth"}),
    ([*T, "--restart", "--from-best", "--out", "{run}"], "exclude each other", {}),
    (["generate", "--run", "{run}", "--n", "4", "--out", "{scratch}"], "is a folder", {}),
    (["generate", "--run", "{damaged}", "--n", "4", "--out", "{scratch}/x.png"], "is damaged", {}),
    (["generate", "--run", "{run}", "--n", "4", "--class", "3", "--out", "{scratch}/x.png"], "unconditional", {}),
    (["generate", "--run", "{run}", "--n", "4", "--out", "{scratch}/missing/x.png"], "does not exist", {}),
    (["eval", "--run", "{run}", "--metrics", "modes", "--n", "10", "--device", "cuda"], "no CUDA device", {}),
    (["eval", "--run", "{run}", "--metrics", "modes", "--n", "10", "--device", "tpu"], "unknown", {}),
    (["eval", "--run", "{run}", "--metrics", "modes", "--n", "10", "--batch", "0"], "--batch", {}),
    (["eval", "--run", "{run}", "--metrics", "modes", "--n", "10", "--batch", "-1"], "--batch", {}),
    (["eval", "--run", "{run}", "--metrics", "modes", "--n", "0"], "--n", {}),
    (["eval", "--run", "{run}", "--metrics", "fidd", "--n", "10"], "fidd", {}),
    (["eval", "--images", "digits", "--metrics", "lpips_div", "--n", "10", "--lpips-trunk", "{evil}"], "never loads", {}),
    (["eval", "--images", "digits", "--metrics", "fid", "--n", "10", "--ref", "digits"], "GANKIT_CACHE",
     {"GANKIT_CACHE": "{file}/cache", "TORCH_HOME": "{scratch}/no-hub"}),
    (["eval", "--images", "{scratch}", "--metrics", "modes", "--n", "10"], "no images", {}),
    (["eval", "--images", "stacked-digits", "--ref", "digits", "--extractor", "digits", "--metrics", "fid", "--n", "10"],
     "the images have 3 channel(s) and the reference 1: digits reads each channel on its own", {}),
    (["eval", "--images", "digits", "--ref", "stacked-digits", "--extractor", "digits", "--metrics", "fid", "--n", "10"],
     "--ref digits for 1-channel images", {}),
    (["describe", "--preset", "r3gan-tiny", "--set", "train.lr=-1"], "> 0", {}),
    (["describe", "--preset", "nope"], "nope", {}),
    (["presets", "--bogus"], "unrecognized arguments", {}),
    # hostile files ({hostile}: made by _hostile_files below)
    (["describe", "--config", "{hostile}/binary.toml"], "is not UTF-8", {}),
    (["describe", "--config", "{hostile}/latin1.toml"], "is not UTF-8", {}),
    (["describe", "--config", "{hostile}/utf16.toml"], "UTF-16", {}),
    (["describe", "--config", "{hostile}/deep.toml"], "nests tables or lists too deeply", {}),
    (["describe", "--config", "{hostile}/deep.json"], "nests tables or lists too deeply", {}),
    (["describe", "--config", "{hostile}/huge.toml"], "a config is a few KB", {}),
    (["describe", "--config", "{hostile}/long-value.toml"], "characters left out", {}),
    (["describe", "--config", "{hostile}/folder.toml"], "is a folder", {}),
    (["describe", "--config", "{hostile}/fifo.toml"], "not a regular file", {}),
    (["describe", "--config", "/dev/zero"], "not a regular file", {}),
    (["describe", "--config", "{hostile}/missing.toml"], "does not exist", {}),
    (["describe", "--config", "{hostile}/unknown-section.toml"], "unknown section 'nope'", {}),
    ([*T, "--config", "{hostile}/binary.toml", "--out", "{run}"], "is not UTF-8", {}),
    (["import", "{hostile}/self-ref.pkl", "--out", "{scratch}/imported"], "contains itself", {}),
    (["import", "{hostile}/shared-40.pkl", "--out", "{scratch}/imported"], "objects when walked", {}),
    (["import", "{hostile}/chain-20000.pkl", "--out", "{scratch}/imported"], "nests deeper than", {}),
    (["import", "{hostile}/system-in-cur-nimg.pkl", "--out", "{scratch}/imported"], "cur_nimg holds a posix.system", {}),
    (["export", "--run", "{run}", "--format", "torchscript", "--out", "{run}/checkpoints/ckpt-000000032.safetensors"],
     "a file of the run", {}),
    (["export", "--run", "{run}", "--format", "torchscript", "--out", "{run}/config"], "would overwrite config.json", {}),
    (["eval", "--images", "{hostile}/mixed", "--metrics", "modes", "--n", "10"], "differ in size", {}),
    (["eval", "--images", "{hostile}/unreadable", "--metrics", "modes", "--n", "10"], "no image in", {}),
]

# Every verb against a missing, plain-file, empty or damaged run, and each of its options out of range (issue 28)
# each verb that reads a run, against a missing path, a plain file, an empty folder and a damaged run
_READS_A_RUN = [
    (["generate", "--run", "{bad}", "--n", "4", "--out", "{scratch}/x.png"], True),
    (["eval", "--run", "{bad}", "--metrics", "modes", "--n", "10"], True),
    (["export", "--run", "{bad}", "--format", "torchscript", "--out", "{scratch}/g.pt"], True),
    (["truncation", "--run", "{bad}", "--metrics", "pr", "--extractor", "digits", "--n", "64", "--values", "1,0.5", "--out", "{scratch}"], True),
    (["phema", "{bad}", "--sigma-rel", "0.1", "--out", "{scratch}/ph"], True),
    (["report", "{bad}", "--out", "{scratch}/r.html"], True),
    (["plot", "{bad}", "--out", "{scratch}/plots"], False),  # plot reads the log only
]
_NOT_A_RUN = "is not a gankit run (no config.json); pass the --out of a"
_DAMAGED = "restore it from a copy, or (train) pass --restart to set"
_NO_LOG = "has no metrics.jsonl records; pass the directory of a"
VERB_ROWS = [
    *[([a.replace("{bad}", bad) for a in argv], (word if config else _NO_LOG), {})
      for bad, word in (("/nonexistent/run", _NOT_A_RUN), ("{file}", _NOT_A_RUN), ("{scratch}", _NOT_A_RUN),
                        ("{damaged}", _DAMAGED)) for argv, config in _READS_A_RUN],
    (['generate', '--run', '{run}', '--out', '{scratch}/x.png', '--n', '-1'], 'more: several calls with different --seed', {}),
    (['generate', '--run', '{run}', '--out', '{scratch}/x.png', '--n', 'abc'], 'argument --n: invalid int value', {}),
    (['generate', '--run', '{run}', '--out', '{scratch}/x.png', '--n', '4', '--seed', 'abc'], 'argument --seed: invalid int value', {}),
    (['generate', '--run', '{run}', '--out', '{scratch}/x.png', '--n', '4', '--truncation', '-1'], 'truncation threshold must be >', {}),
    (['generate', '--run', '{run}', '--out', '{scratch}/x.png', '--n', '4', '--psi', 'nan'], 'psi-truncation needs a generator with a mapping network', {}),
    (['generate', '--run', '{run}', '--out', '{scratch}/x.png', '--n', '4', '--psi', '0.5'], 'psi-truncation needs a generator with a mapping network', {}),
    (['generate', '--run', '{run}', '--out', '{scratch}/x.png', '--n', '4', '--class', '-1'], 'is unconditional; drop --class', {}),
    (['generate', '--run', '{run}', '--out', '{scratch}/x.png', '--n', '4', '--truncation', 'abc'], 'argument --truncation: invalid float value', {}),
    (['generate', '--run', '{run}', '--out', '{scratch}/x.png', '--n', '99999999999'], 'more: several calls with different --seed', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--n-ref', '-3'], 'or left out: the same as --n), got -', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--kid-subsets', '0'], '--kid-subsets must be at least', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--kid-subset-size', '0'], '--kid-subset-size must be at least', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--lpips-pairs', '0'], '--lpips-pairs must be at least', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'bogus', '--n', '64'], 'valid feature extractor names: digits, dinov2, inception, mnist', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--seed', 'abc'], 'argument --seed: invalid int value', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--images', 'digits'], 'argument --images: not allowed with argument --run; see', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--protocol', 'nope'], 'valid metric protocol names: fid', {}),
    (['eval', '--run', '{run}', '--metrics', '', '--n', '64'], 'no metrics asked for; pass --metrics with some of dc, fid,', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--ref', '/nonexistent/ref'], 'is neither an existing path nor a dataset (digits, folder,', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--ref', '{file}'], 'archive; point --data at an image folder or archive', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--truncation', '-2'], 'truncation threshold must be >', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--psi', '0.7'], 'psi-truncation needs a generator with a mapping network', {}),
    (['eval', '--metrics', 'pr', '--n', '10'], 'one of the arguments --run --images is required; see', {}),
    (['eval', '--images', '{file}', '--metrics', 'pr', '--n', '10'], 'archive; point --data at an image folder or archive', {}),
    (['eval', '--images', 'digits', '--metrics', 'fid', '--n', '10', '--kid-subset-size', '-5'], '--kid-subset-size must be at least', {}),
    (['truncation', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--out', '{scratch}', '--values', ''], '--values takes a comma list of finite numbers, got', {}),
    (['truncation', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--out', '{scratch}', '--values', 'abc'], '--values takes a comma list of numbers, got', {}),
    (['truncation', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--out', '{scratch}', '--values', '-1'], 'truncation threshold must be >', {}),
    (['truncation', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--out', '{scratch}', '--values', '1,-1'], 'truncation threshold must be >', {}),  # refused before the first value is scored
    (['truncation', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--out', '{scratch}', '--values', 'nan'], '--values takes a comma list of finite numbers, got', {}),
    (['phema', '{run}', '--out', '{scratch}/ph', '--sigma-rel', '0'], 'was trained without post-hoc EMA profiles (train.phema is', {}),
    (['phema', '{run}', '--out', '{scratch}/ph', '--sigma-rel', '0.5'], 'was trained without post-hoc EMA profiles (train.phema is', {}),
    (['phema', '{run}', '--out', '{scratch}/ph', '--sigma-rel', 'abc'], 'argument --sigma-rel: invalid float value', {}),
    (['phema', '{run}', '--out', '{scratch}/ph', '--sigma-rel', 'nan'], 'was trained without post-hoc EMA profiles (train.phema is', {}),
    (['phema', '{run}', '--out', '{scratch}/ph', '--sigma-rel', '0.1'], 'was trained without post-hoc EMA profiles (train.phema is', {}),
    (['experiment', 'r3gan-ablation', '--jobs', '0', '--out', '{scratch}'], '--jobs and --threads must be at least', {}),
    (['experiment', 'r3gan-ablation', '--seeds', 'abc', '--out', '{scratch}'], '--seeds takes a comma list of integers >= 0, got', {}),
    (['experiment', 'r3gan-ablation', '--seeds', '', '--out', '{scratch}'], "--seeds takes a comma list of integers >= 0, got ''", {}),
    (['experiment', 'r3gan-ablation', '--seeds', '1,-2', '--out', '{scratch}'], "--seeds takes a comma list of integers >= 0, got '1,-2'", {}),
    (['experiment', 'bogus-study', '--out', '{scratch}'], 'valid experiment names:', {}),
    (['experiment', 'r3gan-ablation', '--only', 'bogus', '--out', '{scratch}'], '--only bogus: not a dataset or method of r', {}),
    (['experiment', 'r3gan-ablation', '--set', 'bad=1', '--out', '{scratch}'], 'keys look like SECTION.NAME with SECTION one of model,', {}),
    (['experiment', 'r3gan-ablation', '--set', 'train.lr=-1', '--out', '{scratch}'], 'is out of range: it must be >', {}),
    (['experiment', 'r3gan-ablation', '--out', '{file}'], 'Not a directory); a part of the path is a file: check the', {}),
    (['experiment', '--collect-only', 'r3gan-ablation', '--out', '{scratch}/none'], 'run `gankit experiment r', {}),
    (['experiment', 'r3gan-ablation', '--threads', 'abc', '--out', '{scratch}'], 'argument --threads: invalid int value', {}),
    (['import', '/nonexistent.pkl', '--out', '{scratch}/imp'], 'No such file or directory); check the path', {}),
    (['import', '{file}', '--out', '{scratch}/imp'], 'GAN network pickle (UnpicklingError: unpickling stack', {}),
    (['import', '{scratch}', '--out', '{scratch}/imp'], 'Is a directory); check the path', {}),
    (['import', '{file}', '--out', '{run}'], 'is not empty; import into a new directory', {}),
    (['import', '{file}', '--out', '{scratch}/imp', '--set', 'train.lr=-1'], 'GAN network pickle (UnpicklingError: unpickling stack', {}),
    (['export', '--run', '{run}', '--format', 'bogus', '--out', '{scratch}/g.pt'], 'argument --format: invalid choice', {}),
    (['export', '--run', '{run}', '--format', 'torchscript', '--out', '{scratch}'], 'is a folder; name a file, e.g', {}),
    (['export', '--run', '{run}', '--format', 'torchscript', '--out', '{scratch}/missing/g.pt'], 'does not exist; create it first', {}),
    (['describe', '--data', '/nonexistent/photos'], 'does not exist; pass --data pointing at an image folder or', {}),
    (['describe', '--data', '{hostile}/mixed', '--minutes', '0'], '--minutes must be a positive number, got', {}),
    (['describe', '--data', '{hostile}/mixed', '--minutes', '-5'], '--minutes must be a positive number, got -', {}),
    (['describe', '--data', '{scratch}', '--minutes', 'abc'], 'argument --minutes: invalid float value', {}),
    (['describe', '--data', '{hostile}/mixed', '--minutes', 'nan'], '--minutes must be a positive number, got nan', {}),
    (['describe', '--data', '{file}'], 'archive; point --data at an image folder or archive', {}),
    (['train', '--data', '/nonexistent/photos', '--out', '{scratch}/t'], 'does not exist; pass --data pointing at an image folder or', {}),
    (['train', '--data', '{file}', '--out', '{scratch}/t'], 'archive; point --data at an image folder or archive', {}),
    (['train', '--data', '{hostile}/mixed', '--minutes', '0', '--out', '{scratch}/t'], '--minutes must be a positive number, got', {}),
    (['train', '--data', '{scratch}', '--minutes', '5', '--kimg', '1', '--out', '{scratch}/t'], "--minutes and --kimg both set the run's length; give one of", {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c90/t', '--kimg', 'abc'], 'argument --kimg: invalid float value', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c91/t', '--set', 'train.metrics=fidd'], 'valid metric names: dc, fid, fid_inf, is, kid, lpips_div,', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c92/t', '--set', 'train.eval_extractor=bogus'], 'valid feature extractor names: digits, dinov2, inception, mnist', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c93/t', '--set', 'train.best_metric=bogus'], 'valid metric names: dc, fid, fid_inf, is, kid, lpips_div,', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c94/t', '--set', 'train.phema=0.5'], 'each sigma_rel must lie in', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c95/t', '--set', 'train.phema=abc'], 'give sigma_rel values as a comma list, e.g', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c96/t', '--set', 'train.precision=fp8'], 'is unknown; use fp', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c97/t', '--set', 'train.on_nonfinite=pray'], 'is unknown; use lower_lr, skip or stop', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c98/t', '--set', 'loss.regularizers=[r1_fd]', '--set', 'train.aug_p=0.5'], '_fd estimate the gradient by probing D at nearby points,', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c99/t', '--set', 'model.heads=4'], 'several D heads are built for dcgan, mlp (MMA-GAN), not r', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c100/t', '--set', 'loss.clip=0.01'], 'loss.clip (weight clipping) keeps a Wasserstein critic', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c101/t', '--set', 'train.batch_gpu=7'], 'must divide the per-process batch', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c102/t', '--set', 'data.resolution=12'], 'or any larger power of two, bilinear-upsampled', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c103/t', '--set', 'data.name=folder'], 'the folder dataset needs data.path; pass --data pointing at', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c104/t', '--config', '{file}'], 'must end in .toml or .json', {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c105/t', '--from-best'], 'has no checkpoints/best', {}),
    (['report', '{run}', '--out', '{scratch}'], 'Is a directory); it is a folder: name a file, then re-run', {}),
    (['plot', '{run}', '--out', '{file}'], 'a file is in the way where a folder is needed', {}),
    (['presets', 'extra'], 'unrecognized arguments: extra; see `gankit --help`', {}),
    (['generate'], 'the following arguments are required: --run, --out; see', {}),
    # issue 28, session 6: each verb's remaining file and option cases
    (['generate', '--run', '{run}', '--n', '4', '--float', '--out', '{scratch}/x.png'], '--float writes float32 arrays: name an .npz file', {}),
    (['generate', '--run', '{run}', '--n', '4', '--out', '{scratch}/x.jpg'], 'must end in .png (a grid) or .npz', {}),
    (['generate', '--run', '{run}', '--n', '4', '--out', '{file}/x.png'], 'does not exist; create it first', {}),
    (['generate', '--run', '{run}', '--n', '4', '--raw', '--class', '1', '--out', '{scratch}/x.png'], 'is unconditional; drop --class', {}),
    (['export', '--run', '{run}', '--format', 'onnx', '--out', '{scratch}'], 'is a folder; name a file, e.g', {}),
    (['export', '--run', '{run}', '--format', 'onnx', '--out', '{scratch}/missing/g.onnx'], 'does not exist; create it first', {}),
    (['export', '--run', '{run}', '--format', 'torchscript', '--out', '{run}/config.json'], 'would overwrite config.json, a file of the run', {}),
    (['export', '--run', '{hostile}', '--format', 'onnx', '--out', '{scratch}/g.onnx'], 'is not a gankit run (no config.json)', {}),
    (['report', '{run}', '--out', '{scratch}/missing/r.html'], 'No such file or directory); check the path', {}),
    (['report', '{run}', '--out', '{file}/r.html'], 'a part of the path is a file: check the path', {}),
    (['plot', '/nonexistent/run', '--out', '{scratch}/p'], 'has no metrics.jsonl records; pass the directory of a', {}),
    (['plot', '{damaged}', '--out', '{scratch}/p'], 'has no metrics.jsonl records; pass the directory of a', {}),
    (['plot', '{scratch}', '--out', '{scratch}/p'], 'has no metrics.jsonl records; pass the directory of a', {}),
    (['truncation', '--run', '{damaged}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--out', '{scratch}/tr', '--values', '1'], 'is damaged', {}),
    (['truncation', '--run', '/nonexistent/run', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--out', '{scratch}/tr', '--values', '1'], 'is not a gankit run (no config.json)', {}),
    (['truncation', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '0', '--out', '{scratch}/tr', '--values', '1'], '--n must be at least 1, got 0', {}),
    (['phema', '/nonexistent/run', '--out', '{scratch}/ph', '--sigma-rel', '0.1'], 'is not a gankit run (no config.json)', {}),
    (['phema', '{damaged}', '--out', '{scratch}/ph', '--sigma-rel', '0.1'], 'is damaged', {}),
    (['describe', '--data', '{hostile}/unreadable'], 'image headers read in', {}),
    (['describe', '--data', '{hostile}/mixed', '--minutes', 'inf'], '--minutes must be a positive number, got inf', {}),
    (['train', '--preset', 'bogus', '--out', '{scratch}/t1'], 'valid preset names:', {}),
    (['eval', '--run', '{run}', '--metrics', 'pr', '--extractor', 'digits', '--n', '64', '--feature-precision', 'bf8'], "unknown feature precision 'bf8'; valid feature precision names: exact, fast", {}),
    (['train', '--preset', 'r3gan-tiny', '--out', '{scratch}/c106/t', '--set', 'train.eval_precision=half'], "unknown feature precision 'half'; valid feature precision names: exact, fast", {}),
]


def _hostile_files(d: Path) -> None:
    """Config files and pickles a hostile or unlucky user hands gankit (issue 28)."""
    d.mkdir()
    (d / "binary.toml").write_bytes(bytes(range(256)) * 4)
    (d / "latin1.toml").write_bytes('[train]\nlr = 0.002 # r\xe9glage\n'.encode("latin-1"))
    (d / "utf16.toml").write_bytes("[train]\nlr = 0.002\n".encode("utf-16"))
    (d / "deep.toml").write_text("x = " + "[" * 3000 + "]" * 3000 + "\n")
    (d / "deep.json").write_text("[" * 100000 + "]" * 100000)
    (d / "huge.toml").write_text("# " + "x" * (2 << 20) + "\n")
    (d / "long-value.toml").write_text(f'[model]\narch = "{"v" * 500_000}"\n')
    (d / "folder.toml").mkdir()
    os.mkfifo(d / "fifo.toml")
    (d / "unknown-section.toml").write_text("[nope]\nx = 1\n")
    from PIL import Image

    (d / "mixed").mkdir()
    Image.new("RGB", (8, 8)).save(d / "mixed" / "a.png")
    Image.new("RGB", (16, 16)).save(d / "mixed" / "b.png")
    (d / "unreadable").mkdir()
    (d / "unreadable" / "a.png").write_bytes(b"")
    (d / "unreadable" / "b.png").write_bytes(b"not a png")
    selfref: list = []
    selfref.append(selfref)
    (d / "self-ref.pkl").write_bytes(pickle.dumps({"G_ema": selfref}))
    shared: list = []
    for _ in range(40):
        shared = [shared, shared]  # 2^40 paths, 40 objects
    (d / "shared-40.pkl").write_bytes(pickle.dumps({"G_ema": 0, "training_set_kwargs": shared}))
    # 20,000 nested lists, written as opcodes (pickle.dumps itself would recurse too deep): EMPTY_LIST x N, APPEND x N-1
    (d / "chain-20000.pkl").write_bytes(b"\x80\x02" + b"]" * 20000 + b"a" * 19999 + b".")
    (d / "system-in-cur-nimg.pkl").write_bytes(pickle.dumps({"G_ema": 0, "cur_nimg": _System(f"touch {d / 'PWNED'}")}))


def _files(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root: (sha256, mtime in ns)."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_malformed_input_through_the_real_cli_leaves_everything_unchanged(tmp_path: Path) -> None:
    """Every row, as its own `python -m gankit` process: exit code 2, one stderr line, no traceback, and not a byte
    of the run directory (or of anything else under tmp_path) changed."""
    run, damaged, scratch, file = tmp_path / "run", tmp_path / "damaged", tmp_path / "scratch", tmp_path / "afile"
    assert main([*T, "--kimg", "0.032", "--out", str(run)]) == 0
    damaged.mkdir(), scratch.mkdir()
    (damaged / "config.json").write_text("garbage{")
    _hostile_files(tmp_path / "hostile")
    file.write_text("a file, not a folder")
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(_Evil(str(scratch / "PWNED"))))
    before = _files(tmp_path)
    rows = [([*T, "--set", item, "--out", "{run}"], message, {}) for item, message in BAD_SETS]
    rows += [(argv, message, {}) for argv, message in BAD_COMMANDS] + EXTRA_ROWS + VERB_ROWS
    assert len(rows) >= 250
    fill = {"run": run, "damaged": damaged, "scratch": scratch, "file": file, "evil": evil, "hostile": tmp_path / "hostile"}

    def one(row: tuple[list[str], str, dict]) -> str:
        argv, message, env = row
        argv = [a.format(**fill) for a in argv]
        env = {**os.environ, **{k: v.format(**fill) for k, v in env.items()}}
        p = subprocess.run([sys.executable, "-m", "gankit", *argv], capture_output=True, text=True, env=env,
                           cwd=scratch, timeout=300)
        lines = p.stderr.strip().splitlines()
        if (p.returncode != 2 or len(lines) != 1 or "Traceback" in p.stderr or message not in p.stderr
                or len(p.stderr) > 2000):  # one line, and not an echo of a huge value
            return f"{' '.join(argv)} [{env.get('WORLD_SIZE', '')}]: rc {p.returncode}, stderr {p.stderr.strip()[-400:]!r}"
        return ""

    with ThreadPoolExecutor(4) as pool:
        failures = [f for f in pool.map(one, rows) if f]
    assert not failures, "\n".join(failures)
    assert _files(tmp_path) == before  # not a byte written anywhere, the run's lock released
    assert not (scratch / "PWNED").exists() and not (tmp_path / "hostile" / "PWNED").exists()


class _System:
    """Unpickling this would run a shell command through os.system (pickled as posix.system)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Evil:
    """Unpickling this would create a file (a stand-in for any code a malicious pickle runs)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_an_unwritable_statistics_cache_only_warns(tmp_path: Path, capsys, monkeypatch) -> None:
    """The reference-statistics cache saves time and nothing else: when it cannot be written, eval warns (naming
    $GANKIT_CACHE and --no-cache) and still prints its result."""
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "afile" / "cache"))
    argv = ["eval", "--images", "digits", "--ref", "digits", "--metrics", "fid", "--extractor", "digits", "--n", "64"]
    with pytest.warns(UserWarning, match=r"could not write the reference statistics cache .*GANKIT_CACHE.*--no-cache"):
        assert main(argv) == 0
    assert "fid" in capsys.readouterr().out


def test_only_training_is_told_that_a_rerun_resumes() -> None:
    """A disk or path error names the file and the way out; "a run resumes from its last checkpoint" is said of train
    alone (report, export and the rest start over)."""
    import errno

    from gankit.cli import os_error_line

    e = OSError(errno.ENOSPC, "No space left on device", "/full/x.html")
    plain, train = os_error_line(e), os_error_line(e, resumes=True)
    assert plain == "cannot access /full/x.html (No space left on device); free space on that disk, then re-run the same command"
    assert train == plain + " (a run resumes from its last checkpoint)"
