"""The architecture catalog: every family at tiny width, parameter counts against stated ones, truncation, growth."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gankit.augment import AugmentConfig
from gankit.cli import main
from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.objectives.losses import LOSSES
from gankit.networks import build_networks, count_params, growth, set_growth
from gankit.networks.layers import SelfAttention
from gankit.networks.progressive import fade_reals
from gankit.presets import resolve
from gankit.objectives.regularizers import REGULARIZERS
from gankit.sampling import latents
from gankit.objectives.step import d_step, g_step
from gankit.validate import validate_model

TINY = {  # name -> model keys, every family small enough for a CPU second
    "r3gan": dict(arch="r3gan", widths=[16, 8], groups=[2, 2], blocks=1),
    "r3gan-roadmap-b/c": dict(arch="stylegan", widths=[16, 8], mapping_layers=0, style="none", noise=False,
                              style_mixing=0.0, equalized_lr=False),
    "r3gan-roadmap-d": dict(arch="r3gan", widths=[16, 8], groups=[1, 1], expansion=0.25),
    "dcgan": dict(arch="dcgan", widths=[16, 8], z_dim=16),
    "dcgan-progressive": dict(arch="dcgan", widths=[16, 8], z_dim=16, progressive=True, mbstd_group=2),
    "sngan": dict(arch="resnet", widths=[16] * 3, widths_d=[16] * 3, d_final_res=4, z_dim=16),
    "sagan": dict(arch="resnet", widths=[16] * 3, widths_d=[16] * 3, d_final_res=4, z_dim=16, attn_res=8),
    "biggan": dict(arch="resnet", widths=[16] * 3, widths_d=[16] * 3, d_final_res=4, z_dim=18, shared_dim=8,
                   hier=True, attn_res=8, ortho_init=True),
    "stylegan2": dict(arch="stylegan", widths=[16, 8], z_dim=16, w_dim=16, mapping_layers=2, mbstd_group=2),
    "stylegan-adain": dict(arch="stylegan", widths=[16, 8], z_dim=16, w_dim=16, mapping_layers=2, style="adain"),
    "stylegan-progressive": dict(arch="stylegan", widths=[16, 8], z_dim=16, w_dim=16, mapping_layers=2,
                                 progressive=True),
}
SHAPE = (3, 16, 16)


def _step(name: str, num_classes: int, loss: str) -> tuple:
    """One D step and one G step of a tiny network: RpGAN + R1 + R2, or hinge with spectral norm in D."""
    torch.manual_seed(0)
    cfg = ModelConfig(**TINY[name], spectral_norm=loss == "hinge+sn")
    G, D = build_networks(cfg, SHAPE, num_classes)
    n = 4
    c = torch.eye(num_classes)[torch.arange(n) % num_classes] if num_classes else None
    real, z = torch.rand(n, *SHAPE) * 2 - 1, torch.randn(n, G.z_dim)
    regs = {r: REGULARIZERS.get(r) for r in (["r1", "r2"] if loss == "rpgan+r1+r2" else [])}
    rng = torch.Generator().manual_seed(0)
    fn = LOSSES.get("rpgan" if loss == "rpgan+r1+r2" else "hinge")
    ds = d_step(G, D, fn, regs, real, c, z, 1.0, 0.0, AugmentConfig(), rng)
    gs = g_step(G, D, fn, real, c, torch.randn(n, G.z_dim), 0.0, AugmentConfig(), rng)
    with torch.no_grad():
        out, logits = G(z, c), D(real, c)
    return G, D, ds, gs, out, logits


@pytest.mark.parametrize("loss", ["rpgan+r1+r2", "hinge+sn"])
@pytest.mark.parametrize("num_classes", [0, 5])
@pytest.mark.parametrize("name", list(TINY))
def test_every_family_trains_one_step(name, num_classes, loss):
    if loss == "hinge+sn" and TINY[name]["arch"] == "r3gan":  # refused on purpose: Fix-up's zero convs have sigma 0
        with pytest.raises(GankitError, match="Fix-up"):
            validate_model(ModelConfig(**TINY[name], spectral_norm=True), SHAPE, num_classes)
        return
    G, D, ds, gs, out, logits = _step(name, num_classes, loss)
    assert out.shape == (4, *SHAPE) and out.dtype == torch.float32
    assert logits.shape == (4,) and logits.dtype == torch.float32
    assert all(torch.isfinite(v) for v in {**ds, **gs}.values())
    if loss == "rpgan+r1+r2":
        assert float(ds["r1"]) > 0 and float(ds["r2"]) > 0
    growing = TINY[name].get("progressive", False)
    for net in (G, D):  # every parameter in use received a finite gradient (lower-resolution heads idle at full size)
        for pname, p in net.named_parameters():
            if growing and ("to_rgb" in pname or "from_rgb" in pname) and p.grad is None:
                continue
            assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}: {pname}"


@pytest.mark.parametrize("name", [n for n in TINY if TINY[n]["arch"] != "r3gan"])
def test_every_family_takes_the_catalog_losses_and_regularizers(name):
    """Each classic loss, WGAN-GP on interpolates, feature matching on D.features and BigGAN's orthogonal penalty."""
    from gankit.objectives.regularizers import orthogonal_penalty

    torch.manual_seed(0)
    G, D = build_networks(ModelConfig(**TINY[name]), SHAPE, 0)
    real, rng = torch.rand(4, *SHAPE) * 2 - 1, torch.Generator().manual_seed(0)
    for loss in ("nonsaturating", "minimax", "wasserstein", "lsgan", "ragan"):
        regs = {"wgan_gp": REGULARIZERS.get("wgan_gp")} if loss == "wasserstein" else {}
        ds = d_step(G, D, LOSSES.get(loss), regs, real, None, torch.randn(4, G.z_dim), 10.0, 0.0, AugmentConfig(), rng)
        gs = g_step(G, D, LOSSES.get(loss), real, None, torch.randn(4, G.z_dim), 0.0, AugmentConfig(), rng)
        assert all(torch.isfinite(v) for v in {**ds, **gs}.values()), loss
    G.zero_grad()
    fm = g_step(G, D, LOSSES.get("nonsaturating"), real, None, torch.randn(4, G.z_dim), 0.0, AugmentConfig(), rng,
                feature_matching=True)
    assert torch.isfinite(fm["loss_g"]) and D.features(real).shape[0] == 4
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    assert torch.isfinite(orthogonal_penalty(G))


def _counts(model: dict, shape: tuple, classes: int = 0) -> tuple[int, int]:
    with torch.device("meta"):
        G, D = build_networks(ModelConfig(**model), shape, classes)
    return count_params(G), count_params(D)


PAPER256 = [512] * 4 + [256, 128, 64]


@pytest.mark.parametrize("model, shape, classes, stated", [
    # PyTorch's DCGAN example at 64x64, z 100 (torchsummary printout of that network): exact
    (dict(arch="dcgan", z_dim=100, widths=[512, 256, 128, 64]), (3, 64, 64), 0, (3_576_704, 2_765_568)),
    # BigGAN 128, ch 96, shared 128, hier z 120: compare_gan's resnet_biggan_test asserts these totals
    (dict(arch="resnet", z_dim=120, widths=[1536, 1536, 768, 384, 192, 96], widths_d=[96, 192, 384, 768, 1536, 1536],
          d_final_res=4, attn_res=64, shared_dim=128, hier=True), (3, 128, 128), 1000, (70_433_988, 87_982_370)),
    # BigGAN-PyTorch's notes: ch 96 without shared embedding or hier (z 128), and ch 64 without (z 128)
    (dict(arch="resnet", z_dim=128, widths=[1536, 1536, 768, 384, 192, 96], widths_d=[96, 192, 384, 768, 1536, 1536],
          d_final_res=4, attn_res=64), (3, 128, 128), 1000, (85_556_164, 87_982_370)),
    (dict(arch="resnet", z_dim=128, widths=[1024, 1024, 512, 256, 128, 64], widths_d=[64, 128, 256, 512, 1024, 1024],
          d_final_res=4, attn_res=64), (3, 128, 128), 1000, (42_017_412, 39_448_258)),
    # stylegan2-ada-pytorch's printed summary at 1024x1024, cfg auto (2 mapping layers): exact
    (dict(arch="stylegan", z_dim=512, w_dim=512, mapping_layers=2, widths=[512] * 5 + [256, 128, 64, 32], mbstd_group=4),
     (3, 1024, 1024), 0, (28_794_124, 29_012_513)),
])
def test_parameter_counts_match_reference_code(model, shape, classes, stated):
    assert _counts(model, shape, classes) == stated


@pytest.mark.parametrize("preset, g_m, d_m", [  # R3GAN paper, Table 2 (FFHQ-256), to the paper's 3 decimals
    ("r3gan-roadmap-a", 24.767, 24.001), ("r3gan-roadmap-b", 18.890, 23.996), ("r3gan-roadmap-c", 18.890, 23.996),
    ("r3gan-roadmap-d", 23.378, 23.282), ("r3gan-roadmap-e", 23.058, 23.010)])
def test_roadmap_presets_match_r3gan_table_2(preset, g_m, d_m):
    g, d = _counts(resolve(preset).model.__dict__, (3, 256, 256))
    assert (round(g / 1e6, 3), round(d / 1e6, 3)) == (g_m, d_m)


def test_z_truncation_redraws_every_component_beyond_the_threshold():
    z = latents(4096, 32, seed=3, truncation=0.5)
    assert z.abs().max() <= 0.5 and z.std() > 0.2  # within the threshold, still spread over it
    assert torch.equal(z, latents(4096, 32, seed=3, truncation=0.5))  # deterministic
    assert torch.equal(latents(64, 8, 1), latents(64, 8, 1, truncation=0.0))  # 0: off
    untouched = latents(64, 8, 1)  # components already within a threshold keep their values
    assert torch.equal(latents(64, 8, 1, truncation=100.0), untouched)


def test_psi_truncation_pulls_w_to_its_mean():
    torch.manual_seed(0)
    G, _ = build_networks(ModelConfig(**TINY["stylegan2"]), SHAPE, 0)
    G.eval()
    G.mapping.w_avg.copy_(torch.randn_like(G.mapping.w_avg))
    z1, z2 = torch.randn(3, 16), torch.randn(3, 16)
    mean_image = G.synthesis(G.mapping.w_avg.expand(3, G.num_ws, -1), z1)
    assert torch.allclose(G(z1, psi=0.0), mean_image, atol=1e-6) and torch.allclose(G(z2, psi=0.0), mean_image, atol=1e-6)
    assert torch.equal(G(z1, psi=1.0), G(z1))
    assert not torch.allclose(G(z1, psi=0.5), G(z1), atol=1e-4)


def test_growth_schedule_switches_at_the_configured_kimg():
    P = 600_000  # PGGAN's 600k images per phase
    assert growth(P - 1, P, 3) == (0, 1.0)
    assert growth(P, P, 3) == (1, 0.0)  # the 2x layer starts fading in at exactly grow_kimg
    assert growth(1.5 * P, P, 3) == (1, 0.5)
    assert growth(2 * P, P, 3) == (1, 1.0) and growth(3 * P - 1, P, 3)[0] == 1
    assert growth(3 * P, P, 3) == (2, 0.0) and growth(4 * P, P, 3) == (2, 1.0) and growth(1e12, P, 3) == (2, 1.0)


@pytest.mark.parametrize("name", ["dcgan-progressive", "stylegan-progressive"])
def test_fade_in_starts_at_the_old_network_and_ends_at_the_grown_one(name):
    torch.manual_seed(0)
    G, D = build_networks(ModelConfig(**TINY[name]), SHAPE, 0)
    G.eval()
    z, x = torch.randn(4, G.z_dim), torch.rand(4, *SHAPE)
    with torch.no_grad():
        def both(level: int, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
            set_growth(G, level, alpha), set_growth(D, level, alpha)
            return G(z), D(x)

        (g_old, d_old), (g0, d0), (g1, d1) = both(0, 1.0), both(1, 0.0), both(1, 1.0)
        assert torch.allclose(g0, g_old, atol=1e-6) and torch.allclose(d0, d_old, atol=1e-5)  # alpha 0: nothing new yet
        old_rgb = G.to_rgb[str(8)] if name.startswith("dcgan") else G.to_rgb[0]
        old_in = D.from_rgb[str(D.resolution >> (D.levels - 1))]  # level 0's input head
        for m in (old_rgb, old_in):  # after the fade the old heads are out of the network
            for p in m.parameters():
                p.add_(1.0)
        g1b, d1b = both(1, 1.0)
        assert torch.equal(g1, g1b) and torch.equal(d1, d1b)
    if name.startswith("dcgan"):  # the grown network is the plain DCGAN with the same weights
        plain, plain_d = build_networks(ModelConfig(**{**TINY[name], "progressive": False}), SHAPE, 0)
        plain.load_state_dict(G.state_dict(), strict=False)
        plain.eval()
        with torch.no_grad():
            assert torch.equal(plain(z), g1)


def test_faded_reals_match_what_the_growing_generator_shows():
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(fade_reals(x, 1, 1.0, 2), x)  # full resolution, faded in
    low = fade_reals(x, 0, 1.0, 2)
    assert torch.allclose(low, torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 2), scale_factor=2))
    assert torch.allclose(fade_reals(x, 1, 0.25, 2), 0.75 * low + 0.25 * x, atol=1e-6)


def test_progressive_run_switches_at_grow_kimg(tmp_path):
    out = tmp_path / "pg"
    argv = ["train", "--preset", "pggan-digits", "--kimg", "0.512", "--out", str(out), "--set", "train.grow_kimg=0.128",
            "--set", "train.batch=32", "--set", "train.log_kimg=0.032", "--set", "train.metrics=none",
            "--set", "train.tensorboard=false", "--set", "data.size=500"]
    assert main(argv) == 0
    rows = {r["images"]: r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "grow_level" in r}
    assert rows[128]["grow_level"] == 0.0  # the step that ended at 128 images began at 96
    assert rows[160]["grow_level"] == 1.0 and rows[160]["grow_alpha"] == 0.0  # began at 128 = grow_kimg
    assert rows[224]["grow_alpha"] == 0.5 and rows[288]["grow_alpha"] == 1.0  # began at 192 and 256 images


def test_self_attention_starts_as_identity_and_mixes_positions():
    att = SelfAttention(16)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(att(x), x)  # gamma = 0 at initialisation (SAGAN)
    with torch.no_grad():
        att.gamma.fill_(1.0)
    y = att(x)
    x2 = x.clone()
    x2[:, :, 0, 0] += 1.0  # one position changes every output position
    assert (att(x2) - y)[:, :, 7, 7].abs().max() > 0


def test_conditional_bn_starts_neutral_and_hier_splits_z():
    torch.manual_seed(0)
    G, _ = build_networks(ModelConfig(**TINY["sngan"]), SHAPE, 5)  # SNGAN: per-class gain 1, bias 0 at start
    bn = G.blocks[0].bn1
    assert torch.equal(bn.gain.weight, torch.zeros(5, 16)) and torch.equal(bn.bias.weight, torch.zeros(5, 16))
    G, _ = build_networks(ModelConfig(**{**TINY["biggan"], "z_dim": 20}), SHAPE, 5)
    assert (G.chunk, G.z_dim) == (6, 18)  # BigGAN: one chunk for the stem and one per block, z cut to chunk * slots
    assert G.blocks[0].bn1.gain.in_features == 8 + 6  # shared embedding ++ z chunk


def test_catalog_refusals_are_one_line(tmp_path, capsys):
    cases = [(["model.arch=resnet", "model.progressive=true"], "does not grow"),
             (["model.arch=stylegan", "model.ortho_init=true", "model.widths=[16,8]"], "equalized learning rate"),
             (["model.arch=stylegan", "model.style=none", "model.widths=[16,8]"], "mapping_layers=0"),
             (["model.arch=resnet", "model.mbstd_group=4"], "no minibatch-stddev")]
    for sets, words in cases:
        argv = ["train", "--preset", "r3gan-tiny", *sum((["--set", s] for s in sets), []), "--out", str(tmp_path / "x")]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1 and not (tmp_path / "x").exists()


def test_truncation_sweep_and_generate_flags(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "stylegan-digits", "--kimg", "0.064", "--out", str(run), "--set",
                 "model.widths=[16,8,8]", "--set", "train.metrics=none", "--set", "train.tensorboard=false",
                 "--set", "data.size=500"]) == 0
    out = tmp_path / "sweep"
    assert main(["truncation", "--run", str(run), "--metrics", "pr", "--extractor", "digits", "--n", "300",
                 "--values", "0,1.0,0.25", "--out", str(out), "--quiet"]) == 0
    rows = json.loads((out / "truncation.json").read_text())
    assert [r["truncation"] for r in rows] == [0.0, 1.0, 0.25]
    assert all(0 <= r["pr_precision"] <= 1 and 0 <= r["pr_recall"] <= 1 for r in rows)
    assert rows[2]["protocol"]["pr"]["source"]["truncation"] == 0.25
    assert (out / "truncation.csv").read_text().splitlines()[0].startswith("truncation,pr_precision,pr_recall")
    assert (out / "truncation.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["truncation", "--run", str(run), "--metrics", "pr", "--extractor", "digits", "--n", "300",
                 "--values", "1,0.5", "--psi-sweep", "--out", str(tmp_path / "psi"), "--quiet"]) == 0
    assert main(["generate", "--run", str(run), "--n", "16", "--psi", "0.5", "--out", str(tmp_path / "g.png")]) == 0
    dc = tmp_path / "dc"
    assert main(["train", "--preset", "dcgan-digits", "--kimg", "0.064", "--out", str(dc), "--set", "train.metrics=none",
                 "--set", "train.tensorboard=false", "--set", "data.size=500"]) == 0
    capsys.readouterr()
    assert main(["generate", "--run", str(dc), "--n", "4", "--psi", "0.5", "--out", str(tmp_path / "h.png")]) == 2
    assert "needs a generator with a mapping network" in capsys.readouterr().err
    assert main(["generate", "--run", str(dc), "--n", "4", "--truncation", "0.5", "--out", str(tmp_path / "h.png")]) == 0
    assert Path(tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["eval", "--images", "stacked-digits", "--metrics", "modes", "--n", "10", "--truncation", "0.5"]) == 2
    assert "use them with --run" in capsys.readouterr().err
