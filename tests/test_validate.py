"""validate: one place refuses a config, reading what each registered piece declares (not tables of names)."""
from __future__ import annotations

import pytest

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.objectives.losses import LOSSES
from gankit.networks import NETWORKS
from gankit.presets import resolve
from gankit.run import config_diff
from gankit.validate import validate, validate_model


@pytest.fixture
def toy_family():
    """A network family registered from outside gankit, declaring heads and features but nothing else."""
    NETWORKS.register("toy", data="points", heads=True, features=True)(lambda cfg, shape, n: None)
    yield "toy"
    NETWORKS._items.pop("toy"), NETWORKS._caps.pop("toy")


def test_a_new_family_gets_what_it_declares(toy_family):
    validate_model(ModelConfig(arch="toy", heads=4), (2,), 0)  # declared heads: accepted
    with pytest.raises(GankitError, match="the toy discriminator has no minibatch-stddev layer"):
        validate_model(ModelConfig(arch="toy", mbstd_group=4), (2,), 0)
    with pytest.raises(GankitError, match="network 'toy' needs flat data"):
        validate_model(ModelConfig(arch="toy"), (3, 8, 8), 0)
    with pytest.raises(GankitError, match="several D heads are built for dcgan, mlp, toy"):  # the list comes from caps
        validate_model(ModelConfig(arch="r3gan", heads=4), (3, 8, 8), 0)


@pytest.mark.parametrize("sets, words", [
    ({"model.arch": "dcgan", "model.widths": "[16,8]", "model.heads": "4"}, "MMA-GAN.s"),  # rpgan: one logit
    ({"loss.name": "hinge", "loss.clip": "0.01"}, "weight clipping"),
    ({"loss.name": "began", "loss.regularizers": "[]"}, "autoencoder discriminator"),
    ({"train.precision": "bf16", "model.arch": "dcgan", "model.widths": "[16,8]"}, "implemented for the r3gan networks"),
    ({"loss.feature_matching": "true"}, "use model.arch=dcgan, mlp, resnet, stylegan"),
    ({"train.batch_gpu": "5"}, "must divide the per-process batch 16"),
])
def test_cross_piece_rules(sets, words):
    with pytest.raises(GankitError, match=words):
        validate(resolve("r3gan-tiny", sets), (3, 8, 8), 0)


def test_loss_capabilities_are_declared():
    assert LOSSES.caps("mma").get("heads") and LOSSES.caps("began").get("autoencoder")
    assert {n for n in LOSSES.names() if LOSSES.caps(n).get("smoothing")} == {"minimax", "nonsaturating"}


def test_resume_safe_keys_come_from_field_metadata():
    a = resolve("r3gan-tiny")
    b = resolve("r3gan-tiny", {"train.kimg": "9", "train.threads": "1", "data.path": "/x", "train.lr": "1e-3"})
    assert config_diff(a, b) == ["train.lr"]  # bookkeeping keys may change on resume, the experiment may not
