"""Config files: TOML and JSON on top of a preset, `describe --toml` round trips, bad files get one line with the place."""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gankit.cli.commands import _config
from gankit.config import flatten
from gankit.config_files import read_config_file, to_toml
from gankit.errors import GankitError
from gankit.presets import PRESETS, resolve


def _args(**kw) -> argparse.Namespace:
    base = {"preset": None, "config": None, "data": None, "kimg": None, "set": None}
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize("preset", PRESETS.names())
def test_describe_toml_reads_back_to_the_same_config(tmp_path: Path, preset: str) -> None:
    cfg = resolve(preset)
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    assert _config(_args(config=str(path))).to_dict() == cfg.to_dict()
    preset_in_file, settings = read_config_file(path)  # every key is in the file, not only those the preset sets
    assert preset_in_file == preset and settings == {k: v for k, v in flatten(cfg.to_dict()).items() if k != "preset"}


def test_a_file_overrides_the_preset_and_set_goes_on_top(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('preset = "r3gan-tiny"\n\n[train]\nkimg = 3.5\nbatch = 12\n\n[loss]\ngamma = 0.25\n')
    cfg = _config(_args(config=str(path), set=["train.batch=20"]))
    base = resolve("r3gan-tiny")
    assert cfg.preset == "r3gan-tiny" and cfg.train.kimg == 3.5 and cfg.loss.gamma == 0.25 and cfg.train.batch == 20
    assert vars(cfg.model) == vars(base.model)
    assert cfg.train.lr == base.train.lr  # untouched keys stay the preset's
    assert _config(_args(config=str(path), kimg=7.0)).train.kimg == 7.0


def test_a_runs_config_json_works_as_is(tmp_path: Path) -> None:
    cfg = resolve("mlp-grid25", {"train.kimg": 2, "loss.gamma": 0.5})
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json())
    assert _config(_args(config=str(path))).to_dict() == cfg.to_dict()


def test_unknown_key_names_its_line_and_the_valid_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('preset = "r3gan-tiny"\n\n[train]\nkimg = 3\n\n[loss]\ngama = 1.0\n')
    with pytest.raises(GankitError, match=r"c\.toml:7: unknown key 'loss\.gama'; valid keys in 'loss': .*gamma"):
        read_config_file(path)
    js = tmp_path / "c.json"
    js.write_text('{\n  "train": {\n    "kimg": 1\n  },\n  "model": {\n    "widths": [8],\n    "widht": 3\n  }\n}\n')
    with pytest.raises(GankitError, match=r"c\.json:7: unknown key 'model\.widht'"):
        read_config_file(js)
    path.write_text('[trian]\nkimg = 3\n')
    with pytest.raises(GankitError, match=r"c\.toml:1: unknown section 'trian'"):
        read_config_file(path)


@pytest.mark.parametrize("text, message", [
    ("[train\nkimg = 3\n", "not valid TOML"),
    ('preset = 3\n', "preset must be a name"),
    ('[train]\nkimg = "lots"\n', "train.kimg='lots' is not a valid float"),
    # booleans where a number belongs, and numbers other than 0/1 where a switch belongs: once silently batch 1,
    # lr 1.0, tensorboard on, channels_last on
    ('[train]\nbatch = true\n', "train.batch=True is not a valid int"),
    ('[train]\nlr = true\n', "train.lr=True is not a valid float"),
    ('[train]\ntensorboard = 2\n', "train.tensorboard=2 is not a valid bool"),
    ('[train]\nchannels_last = 0.5\n', "train.channels_last=0.5 is not a valid bool"),
    ('[data]\nname = ["folder"]\n', "data.name=['folder'] is not a valid str"),
])
def test_bad_files_get_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(GankitError, match=re.escape(message)):
        _config(_args(config=str(path)))


def test_preset_flag_and_file_preset_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('preset = "r3gan-tiny"\n')
    with pytest.raises(GankitError, match="disagree"):
        _config(_args(config=str(path), preset="mlp-grid25"))
    assert _config(_args(config=str(path), preset="r3gan-tiny")).preset == "r3gan-tiny"


def test_cli_train_from_a_written_toml(tmp_path: Path) -> None:
    """The real command line: describe --toml to a file, edit nothing, train from it; config.json equals the preset's."""
    toml = subprocess.run([sys.executable, "-m", "gankit", "describe", "--preset", "mlp-grid25", "--toml"],
                          capture_output=True, text=True, check=True).stdout
    (tmp_path / "c.toml").write_text(toml)
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "gankit", "train", "--config", str(tmp_path / "c.toml"), "--kimg", "0.5",
                        "--set", "train.metrics=none", "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-1500:]
    plain = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "mlp-grid25", "--kimg", "0.5",
                            "--set", "train.metrics=none", "--out", str(tmp_path / "plain")], capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr[-1500:]
    assert json.loads((out / "config.json").read_text()) == json.loads((tmp_path / "plain" / "config.json").read_text())
    bad = subprocess.run([sys.executable, "-m", "gankit", "train", "--config", str(tmp_path / "missing.toml")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "missing.toml does not exist" in bad.stderr and "Traceback" not in bad.stderr
