"""The DINOv2 ViT-L/14 port (FD-DINOv2): its formulas at tiny width against closed forms, the official checkpoint's key
names, the weight file's failure modes (offline, missing, truncated, wrong shape) without any network access, the
preprocessing, and the metrics on its features through `gankit eval --extractor dinov2`."""
from __future__ import annotations

import math
import re
import urllib.error

import pytest
import torch

from gankit.errors import GankitError
from gankit.eval.metrics import dinov2 as d2
from gankit.eval.metrics.extractors import load_extractor
from gankit.eval.metrics.inception import state_hash

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # RGB, as torchvision's ImageNet models
TINY = dict(embed_dim=8, depth=2, heads=2, patch=14, grid=2)  # 28 px at the training grid


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """An empty gankit cache, no weights variable, and a download that fails the test if anything calls it."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(d2.ENV, raising=False)

    def no_network(url):
        raise AssertionError(f"a test tried to download {url}")
    monkeypatch.setattr(d2, "_fetch", no_network)


def tiny(seed: int = 0, **kw) -> d2.DinoV2:
    torch.manual_seed(seed)
    net = d2.DinoV2(**{**TINY, **kw}).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p))
    return net


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased variance, as LayerNorm
    return (x - mu) / torch.sqrt(var + eps) * weight + bias


# --------------------------------------------------------------------------- architecture, closed forms


def test_zero_residual_branches_give_the_norm_of_cls_plus_its_position():
    """With every block's output linears zero, each residual adds nothing: the feature is LayerNorm(cls + pos[0])
    whatever the image."""
    net = tiny()
    with torch.no_grad():
        for b in net.blocks:
            for lin in (b.attn.proj, b.mlp.fc2):
                lin.weight.zero_()
                lin.bias.zero_()
    x = torch.randn(3, 3, 28, 28, dtype=torch.float64)
    want = layer_norm(net.cls_token[0, 0] + net.pos_embed[0, 0], net.norm.weight, net.norm.bias)
    with torch.no_grad():
        got = net(x)
    assert got.shape == (3, 8)
    assert torch.allclose(got, want.expand(3, -1), rtol=0, atol=1e-12)


def test_attention_one_head_identity_projections_is_softmax_of_scaled_dot_products():
    att = d2.Attention(4, 1).double()
    with torch.no_grad():
        att.qkv.weight.copy_(torch.cat([torch.eye(4)] * 3).double())
        att.qkv.bias.zero_()
        att.proj.weight.copy_(torch.eye(4))
        att.proj.bias.zero_()
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    with torch.no_grad():
        got = att(x)
    for n in range(2):
        for i in range(5):  # token i: sum_j softmax_j(x_i . x_j / sqrt(4)) x_j, written out
            w = [math.exp(float(x[n, i] @ x[n, j]) / 2) for j in range(5)]
            want = sum(wj * x[n, j] for wj, j in zip(w, range(5))) / sum(w)
            assert torch.allclose(got[n, i], want, rtol=0, atol=1e-12)


def test_attention_two_heads_and_a_whole_block_against_the_formula():
    """Random weights, two heads: the qkv rows are [q; k; v], each split in head-contiguous channels; the block is
    x1 = x + g1 * A(LN1 x), out = x1 + g2 * W2 gelu(W1 LN2 x1 + b1) + g2 * b2 with the exact (erf) GELU."""
    torch.manual_seed(1)
    blk = d2.Block(6, 2, 4).double()
    with torch.no_grad():
        for p in blk.parameters():
            p.copy_(torch.randn_like(p))
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    a = blk.attn
    h = layer_norm(x, blk.norm1.weight, blk.norm1.bias)
    qkv = h @ a.qkv.weight.T + a.qkv.bias
    heads = []
    for i in range(2):
        q, k, v = (qkv[..., part * 6 + i * 3: part * 6 + i * 3 + 3] for part in range(3))
        heads.append(torch.softmax(q @ k.transpose(1, 2) / math.sqrt(3), -1) @ v)
    attn = torch.cat(heads, -1) @ a.proj.weight.T + a.proj.bias
    x1 = x + blk.ls1.gamma * attn
    h2 = layer_norm(x1, blk.norm2.weight, blk.norm2.bias) @ blk.mlp.fc1.weight.T + blk.mlp.fc1.bias
    gelu = 0.5 * h2 * (1 + torch.erf(h2 / math.sqrt(2)))
    want = x1 + blk.ls2.gamma * (gelu @ blk.mlp.fc2.weight.T + blk.mlp.fc2.bias)
    with torch.no_grad():
        assert torch.allclose(a(h), attn, rtol=0, atol=1e-12)
        assert torch.allclose(blk(x), want, rtol=0, atol=1e-12)


def test_patch_tokens_are_row_major_conv_patches():
    """Patch token r * gw + c is the patch at row r, column c: W . patch + b (the CLS token goes in front later)."""
    net = tiny()
    x = torch.randn(1, 3, 28, 42, dtype=torch.float64)  # 2 x 3 patches
    with torch.no_grad():
        tok = net.patch_embed(x)
    w, b = net.patch_embed.proj.weight, net.patch_embed.proj.bias
    for r in range(2):
        for c in range(3):
            patch = x[0, :, r * 14:(r + 1) * 14, c * 14:(c + 1) * 14]
            assert torch.allclose(tok[0, r * 3 + c], (w * patch).sum((1, 2, 3)) + b, rtol=0, atol=1e-10)


def test_positional_embedding_is_itself_at_the_training_grid_and_resized_elsewhere():
    net = tiny(grid=4)
    with torch.no_grad():
        assert torch.equal(net.pos_embed_for(4, 4), net.pos_embed)
        other = net.pos_embed_for(3, 5)
    assert other.shape == (1, 1 + 15, 8)
    assert torch.equal(other[:, 0], net.pos_embed[:, 0].float().double())  # the CLS position kept (resized in float32)
    flat = tiny(grid=4)
    with torch.no_grad():
        flat.pos_embed[:, 1:] = 0.25  # a constant grid stays constant: the bicubic weights sum to one
        assert torch.allclose(flat.pos_embed_for(7, 2)[:, 1:], torch.full((1, 14, 8), 0.25, dtype=torch.float64))
        # and a non-square input runs end to end
        assert net(torch.randn(1, 3, 42, 70, dtype=torch.float64)).shape == (1, 8)
    with pytest.raises(GankitError, match="multiple of its 14 px patches"):
        net(torch.randn(1, 3, 30, 28, dtype=torch.float64))


def keys_cubic(t: float, a: float = -0.75) -> float:
    """Keys' cubic convolution kernel (PyTorch's bicubic uses a = -0.75 without antialias)."""
    t = abs(t)
    return (a + 2) * t**3 - (a + 3) * t**2 + 1 if t <= 1 else (a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a if t < 2 else 0.0)


def resize_1d(f: list[float], g: int) -> list[float]:
    """f (length M) resized to g samples as the official code does: source x = (i + 0.5) M / (g + 0.1) - 0.5, the
    four neighbours weighted by the kernel, edges repeated."""
    m, out = len(f), []
    for i in range(g):
        x = (i + 0.5) * m / (g + 0.1) - 0.5
        i0 = math.floor(x)
        out.append(sum(keys_cubic(x - i0 - k) * f[min(max(i0 + k, 0), m - 1)] for k in range(-1, 3)))
    return out


def test_positional_embedding_resize_is_bicubic_with_the_official_offset_rows_by_height():
    """Channel 0 varies along rows only, channel 1 along columns only: a 3 x 5 grid from 8 x 8 is the 1-D formula
    above along each axis (rows from the image height), flattened row-major."""
    net = tiny(grid=8)
    rows, cols = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    with torch.no_grad():
        grid = net.pos_embed[0, 1:].reshape(8, 8, 8)
        grid[:, :, 0] = rows[:, None]
        grid[:, :, 1] = cols[None, :]
        got = net.pos_embed_for(3, 5)[0, 1:].reshape(3, 5, 8)
    want_rows, want_cols = torch.tensor(resize_1d(rows.tolist(), 3)), torch.tensor(resize_1d(cols.tolist(), 5))
    assert torch.allclose(got[:, :, 0], want_rows[:, None].expand(3, 5).double(), rtol=0, atol=1e-6)
    assert torch.allclose(got[:, :, 1], want_cols[None, :].expand(3, 5).double(), rtol=0, atol=1e-6)


def official_keys(depth: int = 24) -> dict[str, tuple]:
    """dinov2_vitl14_pretrain.pth's names and shapes (as facebookresearch/dinov2's hub model lists them)."""
    keys = {"cls_token": (1, 1, 1024), "pos_embed": (1, 1 + 37 * 37, 1024), "mask_token": (1, 1024),
            "patch_embed.proj.weight": (1024, 3, 14, 14), "patch_embed.proj.bias": (1024,),
            "norm.weight": (1024,), "norm.bias": (1024,)}
    per_block = {"norm1.weight": (1024,), "norm1.bias": (1024,), "attn.qkv.weight": (3072, 1024), "attn.qkv.bias": (3072,),
                 "attn.proj.weight": (1024, 1024), "attn.proj.bias": (1024,), "ls1.gamma": (1024,),
                 "norm2.weight": (1024,), "norm2.bias": (1024,), "mlp.fc1.weight": (4096, 1024), "mlp.fc1.bias": (4096,),
                 "mlp.fc2.weight": (1024, 4096), "mlp.fc2.bias": (1024,), "ls2.gamma": (1024,)}
    for i in range(depth):
        keys.update({f"blocks.{i}.{k}": v for k, v in per_block.items()})
    return keys


def test_full_size_state_dict_has_the_official_names_and_shapes():
    with torch.device("meta"):
        net = d2.DinoV2(**d2.ARCH)
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert got == official_keys()


# --------------------------------------------------------------------------- preprocessing


def test_constant_image_maps_to_the_normalised_constant_in_each_channel():
    for c, v in ((1, 200), (3, 17)):
        x = torch.full((2, c, 32, 48), v, dtype=torch.uint8)
        got = d2.preprocess(x)
        assert got.shape == (2, 3, 224, 224)
        for ch, (m, s) in enumerate(zip(IMAGENET_MEAN, IMAGENET_STD)):
            assert torch.allclose(got[:, ch], torch.full((2, 224, 224), (v / 255 - m) / s), rtol=0, atol=1e-5)


def test_a_224_image_is_not_resampled_and_rgb_channels_keep_their_order():
    x = torch.randint(0, 256, (1, 3, 224, 224), dtype=torch.uint8)
    got = d2.preprocess(x)
    mean, std = (torch.tensor(v, dtype=torch.float64).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    want = (x.double() / 255 - mean) / std
    assert torch.allclose(got.double(), want, rtol=0, atol=1e-5)


def test_resize_is_pils_bicubic_as_dgm_eval_before_its_rounding():
    """dgm-eval resizes with PIL's BICUBIC (a = -0.5, antialiased when shrinking); on float pixels the port's
    antialiased torch resize agrees to within 5e-3 of 255, up and down, grey repeated to the three channels."""
    import numpy as np
    from PIL import Image

    torch.manual_seed(0)
    for side in (32, 300):
        x = torch.randint(0, 256, (1, 1, side, side), dtype=torch.uint8)
        pil = Image.fromarray(x[0, 0].float().numpy(), mode="F").resize((224, 224), Image.BICUBIC)
        got = d2.preprocess(x)[0] * torch.tensor(d2.STD).view(3, 1, 1) + torch.tensor(d2.MEAN).view(3, 1, 1)
        diff = (got * 255 - torch.from_numpy(np.array(pil)).float()).abs().max()
        assert diff < 5e-3, (side, float(diff))


# --------------------------------------------------------------------------- weights: never downloaded in tests


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


def tiny_state(**kw) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in tiny(**kw).state_dict().items()}


def test_offline_without_a_file_names_the_cache_file_the_url_and_the_options(tmp_path, monkeypatch):
    def offline(url):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(d2, "_fetch", offline)
    with pytest.raises(GankitError) as e:
        d2.load_dinov2()
    msg = one_line(e)
    assert str(tmp_path / "cache" / d2.FILE) in msg and d2.URL in msg
    assert "--dinov2-weights" in msg and "$GANKIT_DINOV2_WEIGHTS" in msg and "URLError" in msg
    assert not (tmp_path / "cache" / d2.FILE).exists()


def test_a_named_file_that_is_missing_is_refused_without_a_download(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / d2.FILE
    for how in ("arg", "env"):
        if how == "env":
            monkeypatch.setenv(d2.ENV, str(missing))
        with pytest.raises(GankitError) as e:  # the autouse fixture's _fetch fails the test if it is called
            d2.load_dinov2(missing if how == "arg" else None)
        msg = one_line(e)
        assert str(missing) in msg and "does not exist" in msg and d2.URL in msg and "--dinov2-weights" in msg


def test_truncated_and_wrong_shape_files_are_refused_in_one_line(tmp_path, monkeypatch):
    full = tmp_path / "tiny.pth"
    torch.save(tiny_state(), full)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(GankitError) as e:
        d2.load_dinov2(cut)
    msg = one_line(e)
    assert str(cut) in msg and "truncated" in msg
    # a smaller ViT (here 8 wide, 2 deep: a ViT-S checkpoint fails the same way) against ViT-L/14
    with pytest.raises(GankitError) as e:
        d2.load_dinov2(full)
    msg = one_line(e)
    assert msg.startswith(f"{full} is not the DINOv2 ViT-L/14 checkpoint") and "missing keys 308, e.g. blocks.2.norm1.weight" in msg and "wrong shapes" in msg
    assert re.search(r"cls_token \[1, 1, 8\] vs \[1, 1, 1024\]", msg), msg
    # at the right architecture, a key left out, one added (a registers checkpoint), or not a state dict
    monkeypatch.setattr(d2, "ARCH", TINY)
    state = tiny_state()
    del state["mask_token"]
    state["register_tokens"] = torch.zeros(1, 4, 8)
    torch.save(state, full)
    with pytest.raises(GankitError) as e:
        d2.load_dinov2(full)
    msg = one_line(e)
    assert "missing keys 1, e.g. mask_token" in msg and "unexpected keys 1, e.g. register_tokens" in msg
    torch.save([1, 2], full)
    with pytest.raises(GankitError, match="holds a list, not a state dict"):
        d2.load_dinov2(full)


def test_a_download_goes_once_into_the_cache(tmp_path, monkeypatch):
    """Online: the official file is fetched once, written whole into the cache, then found there; a download that is
    no checkpoint is refused and removed."""
    import io

    monkeypatch.setattr(d2, "ARCH", TINY)
    monkeypatch.setattr(d2, "_fetch", lambda url: b"<html>a proxy's login page</html>")
    with pytest.raises(GankitError) as e:
        d2.load_dinov2()
    assert "cannot read DINOv2 weights" in one_line(e) and not (tmp_path / "cache" / d2.FILE).exists()
    state, calls, buf = tiny_state(), [], io.BytesIO()
    torch.save(state, buf)
    monkeypatch.setattr(d2, "_fetch", lambda url: calls.append(url) or buf.getvalue())
    net, sha, src = d2.load_dinov2()
    assert calls == [d2.URL] and src == str(tmp_path / "cache" / d2.FILE) and sha == state_hash(state)
    assert d2.load_dinov2()[1] == sha and len(calls) == 1


# --------------------------------------------------------------------------- the extractor and the metrics


def test_eval_with_dinov2_features_runs_every_feature_metric_and_stamps_the_protocol(tmp_path, monkeypatch, capsys):
    """`gankit eval --extractor dinov2 --dinov2-weights FILE` at tiny width: FD, FD-infinity, KID, P/R, D/C on its
    features, each stamped with the extractor and the weights' hash; IS asks for Inception."""
    import json

    from gankit.cli import main

    monkeypatch.setattr(d2, "ARCH", TINY)
    state = tiny_state(seed=3)
    path = tmp_path / "w.pth"
    torch.save(state, path)
    args = ["eval", "--images", "digits", "--ref", "digits", "--n", "40", "--seed", "1", "--extractor", "dinov2",
            "--dinov2-weights", str(path), "--kid-subsets", "5", "--kid-subset-size", "20", "--no-cache", "--quiet"]
    assert main(args + ["--metrics", "fid,fid_inf,kid,pr,dc", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    for name in ("fid", "fid_inf", "kid", "pr", "dc"):
        p = res[name]["protocol"]
        assert p["extractor"] == "dinov2" and p["weights_sha256"] == state_hash(state) and p["input_size"] == "224x224"
        assert "bicubic" in p["preprocessing"] and "ImageNet" in p["preprocessing"]
    assert res["fid"]["value"] >= 0 and math.isfinite(res["kid"]["mean"]) and 0 <= res["pr"]["precision"] <= 1
    ex = load_extractor("dinov2", str(path))
    assert ex.features(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)).shape == (2, 8)
    with pytest.raises(GankitError, match="Inception Score needs Inception"):
        ex.probs(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
