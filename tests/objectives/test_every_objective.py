"""Every registered objective runs one D step and one G step, through the loop's own train_step, on every network
family that supports it (validate decides which do): each loss on each family, and each part a method adds (weight
clipping, reused latents, L_div, BEGAN's k_t, the orthogonal penalty, growth) on each family that takes it."""
from __future__ import annotations

import copy

import pytest
import torch

from gankit.config import Config
from gankit.data.base import Dataset, InfiniteLoader
from gankit.errors import GankitError
from gankit.networks import NETWORKS, build_networks
from gankit.objectives import OBJECTIVE_PARTS, build_objective
from gankit.objectives.losses import LOSSES
from gankit.presets import resolve
from gankit.training.loop import train_step
from gankit.training.state import TrainState
from gankit.validate import validate

FAMILIES = {  # tiny networks of every family, with the data shape each takes
    "r3gan": ({"model.arch": "r3gan", "model.widths": "[16,8]", "model.groups": "[2,2]", "model.blocks": "1"}, (3, 8, 8)),
    "dcgan": ({"model.arch": "dcgan", "model.widths": "[16,8]", "model.z_dim": "8"}, (3, 8, 8)),
    "resnet": ({"model.arch": "resnet", "model.widths": "[16,16]", "model.widths_d": "[16,16]", "model.z_dim": "8"},
               (3, 8, 8)),
    "stylegan": ({"model.arch": "stylegan", "model.widths": "[16,8]", "model.z_dim": "8", "model.w_dim": "8",
                  "model.mapping_layers": "1"}, (3, 8, 8)),
    "mlp": ({"model.arch": "mlp", "model.hidden": "16", "model.depth": "2", "model.z_dim": "2"}, (2,)),
    "mlp-ae": ({"model.arch": "mlp-ae", "model.hidden": "16", "model.depth": "2", "model.z_dim": "2"}, (2,)),
}
PARTS = {  # part -> the settings that turn it on (with a loss it needs)
    "weight_clip": {"loss.name": "wasserstein", "loss.clip": "0.01", "train.n_critic": "2"},
    "reuse_latents": {"loss.name": "nonsaturating", "train.g_reuse_z": "true"},
    "mode_coverage": {"loss.name": "mma", "model.heads": "4", "loss.mma_lambda": "0.5", "loss.mma_batch": "8"},
    "k_control": {"loss.name": "began"},
    "orthogonal": {"loss.name": "hinge", "loss.ortho_beta": "1e-4"},
    "growth": {"loss.name": "nonsaturating", "model.progressive": "true", "train.grow_kimg": "0.004"},
    "separate_lazy_step": {"loss.name": "nonsaturating", "loss.reg_interval": "2", "loss.lazy_form": "stylegan2"},
}
COMMON = {"loss.regularizers": "[r1,r2]", "train.batch": "8", "train.aug_p": "0", "data.name": "ring8"}


class Noise(Dataset):
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.x = torch.rand(64, *shape, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def __len__(self) -> int:
        return len(self.x)

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx], torch.zeros(len(idx), dtype=torch.int64)


def config(family: str, sets: dict[str, str]) -> tuple[Config, tuple[int, ...]] | None:
    """The config, or None where validate refuses the combination (the family does not support it)."""
    model, shape = FAMILIES[family]
    cfg = resolve("r3gan-tiny", {**COMMON, **model, **sets})
    if cfg.loss.name in ("began", "wasserstein"):  # their own penalties: none (BEGAN), WGAN-GP's unless clipping
        cfg.loss.regularizers = ["wgan_gp"] if cfg.loss.name == "wasserstein" and not cfg.loss.clip else []
    try:
        validate(cfg, shape, 0)
    except GankitError:
        return None
    return cfg, shape


CASES = [(f, {"loss.name": n}) for n in LOSSES.names() for f in FAMILIES] + [(f, s) for s in PARTS.values() for f in FAMILIES]
SUPPORTED = [(f, s) for f, s in CASES if config(f, s) is not None]


def test_every_loss_and_part_has_a_family_and_every_family_an_objective():
    assert set(PARTS) == set(OBJECTIVE_PARTS.names())  # a new part must join this test
    assert {s["loss.name"] for _, s in SUPPORTED} == set(LOSSES.names())
    assert {f for f, _ in SUPPORTED} == set(FAMILIES) == set(NETWORKS.names())
    for part, sets in PARTS.items():
        assert any(s is sets for _, s in SUPPORTED), part


@pytest.mark.parametrize("family, sets", SUPPORTED, ids=[f"{f}-{'-'.join(v for v in s.values())}" for f, s in SUPPORTED])
def test_one_step_of_every_objective_on_every_family(family, sets):
    cfg, shape = config(family, sets)
    torch.manual_seed(0)
    G, D = build_networks(cfg.model, shape, 0)
    obj = build_objective(cfg)
    adam = lambda m: torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.0, 0.99))  # noqa: E731
    s = TrainState(G, copy.deepcopy(G).eval().requires_grad_(False), D, adam(G), adam(D),
                   InfiniteLoader(Noise(shape), cfg.train.batch, seed=0), torch.Generator().manual_seed(1),
                   torch.Generator().manual_seed(2), torch.device("cpu"), objective=obj)
    before = {k: {n: p.detach().clone() for n, p in m.named_parameters()} for k, m in (("G", G), ("D", D))}
    stats = train_step(s, cfg, obj, 0, torch.preserve_format, G)
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in stats.values()), stats
    assert s.images == cfg.train.batch * obj.n_critic and s.step == 1
    for k, m in (("G", G), ("D", D)):  # both networks took an optimiser step
        assert any(not torch.equal(before[k][n], p) for n, p in m.named_parameters()), k
