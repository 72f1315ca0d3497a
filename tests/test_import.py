"""`gankit import`: pickles in the authors' R3GAN snapshot format, built here from stand-in modules with the authors'
module, class and attribute names (the real code is not needed, and the unpickler never imports it), become runs
that generate and fine-tune; pickles that would run code are refused by name, and their code never runs."""
from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit.cli import main
from gankit.errors import GankitError
from gankit.import_r3gan import import_pickle
from gankit.run import load_generator, load_run_config


def _module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    sys.modules[name] = mod
    return mod


@pytest.fixture
def authors(monkeypatch):
    """Stand-ins for the authors' classes under their module names, importable while a test pickles them; the
    names are removed again before anything is unpickled (monkeypatch restores sys.modules)."""
    for name in ("training", "R3GAN", "dnnlib", "torch_utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    mods = {n: _module(n) for n in ("training.networks", "R3GAN.Networks", "R3GAN.FusedOperators", "R3GAN.Resamplers",
                                    "dnnlib.util", "torch_utils.persistence")}

    def cls(module: str, name: str, init, forward=None):
        c = type(name, (nn.Module,), {"__init__": init, "__module__": module, "forward": forward})
        c.__qualname__ = name
        setattr(mods[module], name, c)
        return c

    def conv_init(self, cin, cout, k, groups=1):
        nn.Module.__init__(self)
        self.Layer = nn.Conv2d(cin, cout, k, padding=(k - 1) // 2, groups=groups, bias=False)
    Convolution = cls("R3GAN.Networks", "Convolution", conv_init,  # the forward passes: R3GAN's reference computation
                      lambda self, x: F.conv2d(x, self.Layer.weight, padding=self.Layer.padding, groups=self.Layer.groups))

    def act_init(self, c):
        nn.Module.__init__(self)
        self.Bias = nn.Parameter(torch.randn(c))
    Act = cls("R3GAN.FusedOperators", "BiasedActivationCUDA", act_init,
              lambda self, x: F.leaky_relu(x + self.Bias.view(1, -1, *[1] * (x.ndim - 2)), 0.2))

    def block_init(self, c, groups, e=2):
        nn.Module.__init__(self)
        self.LinearLayer1, self.LinearLayer2 = Convolution(c, c * e, 1), Convolution(c * e, c * e, 3, groups)
        self.LinearLayer3, self.NonLinearity1, self.NonLinearity2 = Convolution(c * e, c, 1), Act(c * e), Act(c * e)
    Block = cls("R3GAN.Networks", "ResidualBlock", block_init, lambda self, x: x + self.LinearLayer3(
        self.NonLinearity2(self.LinearLayer2(self.NonLinearity1(self.LinearLayer1(x))))))

    def per_channel(op):  # each channel filtered alone by the 4x4 kernel, stride 2, pad 1
        def forward(self, x):
            n, c, h, w = x.shape
            k = self.Kernel.view(1, 1, 4, 4) * (4 if op is F.conv_transpose2d else 1)
            y = op(x.reshape(n * c, 1, h, w), k, stride=2, padding=self.FilterRadius)
            return y.view(n, c, *y.shape[2:])
        return forward

    def resampler_init(self, taps=(1.0, 3.0, 3.0, 1.0)):
        nn.Module.__init__(self)
        f = torch.tensor(taps)
        self.register_buffer("Kernel", torch.outer(f, f) / f.sum() ** 2)
        self.FilterRadius = 1
    Up = cls("R3GAN.Resamplers", "InterpolativeUpsampler", resampler_init, per_channel(F.conv_transpose2d))
    Down = cls("R3GAN.Resamplers", "InterpolativeDownsampler", resampler_init, per_channel(F.conv2d))

    def resample_layer(R):
        def init(self, cin, cout):
            nn.Module.__init__(self)
            self.Resampler = R()
            if cin != cout:
                self.LinearLayer = Convolution(cin, cout, 1)
        return init
    def proj(self, x):
        return self.LinearLayer(x) if hasattr(self, "LinearLayer") else x
    UpLayer = cls("R3GAN.Networks", "UpsampleLayer", resample_layer(Up), lambda self, x: self.Resampler(proj(self, x)))
    DownLayer = cls("R3GAN.Networks", "DownsampleLayer", resample_layer(Down), lambda self, x: proj(self, self.Resampler(x)))

    def gbasis_init(self, z, c):
        nn.Module.__init__(self)
        self.Basis, self.LinearLayer = nn.Parameter(torch.randn(c, 4, 4)), nn.Linear(z, c, bias=False)
    GBasis = cls("R3GAN.Networks", "GenerativeBasis", gbasis_init,
                 lambda self, z: self.Basis.view(1, -1, 4, 4) * self.LinearLayer(z).view(len(z), -1, 1, 1))

    def dbasis_init(self, c, out):
        nn.Module.__init__(self)
        self.Basis, self.LinearLayer = nn.Conv2d(c, c, 4, groups=c, bias=False), nn.Linear(c, out, bias=False)
    DBasis = cls("R3GAN.Networks", "DiscriminativeBasis", dbasis_init,
                 lambda self, x: self.LinearLayer(self.Basis(x).view(len(x), -1)))

    def stage(first_last):
        def init(self, layers):
            nn.Module.__init__(self)
            self.Layers, self.DataType = nn.ModuleList(layers), torch.float32
        return init
    def sequence(self, x):
        for layer in self.Layers:
            x = layer(x)
        return x
    GStage = cls("R3GAN.Networks", "GeneratorStage", stage(0), sequence)
    DStage = cls("R3GAN.Networks", "DiscriminatorStage", stage(1), sequence)

    def g_forward(self, z, c=None):
        x = torch.cat([z, self.EmbeddingLayer(c)], 1) if hasattr(self, "EmbeddingLayer") else z
        for stage_ in self.MainLayers:
            x = stage_(x)
        return self.AggregationLayer(x)

    def d_forward(self, x, c=None):
        x = self.ExtractionLayer(x)
        for stage_ in self.MainLayers:
            x = stage_(x)
        x = (x * self.EmbeddingLayer(c)).sum(1, keepdim=True) if hasattr(self, "EmbeddingLayer") else x
        return x.view(len(x))

    def g_init(self, z, widths, groups, classes, embed):
        nn.Module.__init__(self)
        stages = [GStage([GBasis(z + (embed if classes else 0), widths[0]), Block(widths[0], groups[0]), Block(widths[0], groups[0])])]
        stages += [GStage([UpLayer(widths[i - 1], widths[i]), Block(widths[i], groups[i]), Block(widths[i], groups[i])])
                   for i in range(1, len(widths))]
        self.MainLayers, self.AggregationLayer = nn.ModuleList(stages), Convolution(widths[-1], 3, 1)
        if classes:
            self.EmbeddingLayer = nn.Linear(classes, embed, bias=False)
    RG = cls("R3GAN.Networks", "Generator", g_init, g_forward)

    def d_init(self, widths, groups, classes):  # widths from the image down, as the authors' D_kwargs
        nn.Module.__init__(self)
        n = len(widths)
        self.ExtractionLayer = Convolution(3, widths[0], 1)
        self.MainLayers = nn.ModuleList(
            [DStage([Block(widths[i], groups[i]), Block(widths[i], groups[i]), DownLayer(widths[i], widths[i + 1])]) for i in range(n - 1)]
            + [DStage([Block(widths[-1], groups[-1]), Block(widths[-1], groups[-1]), DBasis(widths[-1], widths[-1] if classes else 1)])])
        if classes:
            self.EmbeddingLayer = nn.Linear(classes, widths[-1], bias=False)
    RD = cls("R3GAN.Networks", "Discriminator", d_init, d_forward)

    def wrap_g(self, z, widths, groups, classes, embed, res):
        nn.Module.__init__(self)
        self.Model, self.z_dim, self.c_dim, self.img_resolution = RG(z, widths, groups, classes, embed), z, classes, res
    def wrap_d(self, widths, groups, classes, res):
        nn.Module.__init__(self)
        self.Model, self.c_dim, self.img_resolution = RD(widths[::-1], groups[::-1], classes), classes, res
    G = cls("training.networks", "Generator", wrap_g, lambda self, z, c: self.Model(z, c))
    D = cls("training.networks", "Discriminator", wrap_d, lambda self, x, c: self.Model(x, c))
    easy = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    easy.__qualname__ = "EasyDict"
    mods["dnnlib.util"].EasyDict = easy
    return types.SimpleNamespace(G=G, D=D, EasyDict=easy, mods=mods)


def snapshot(a, classes: int = 0, widths=(16, 16, 8), groups=(4, 4, 2), bf16: bool = True) -> dict:
    """bf16: the stages' DataType as the authors' train.py sets it (FP16Stages: G's top min(n - 1, 4) stages, D's
    first as many); the stand-ins compute in float32 whatever it says."""
    torch.manual_seed(0)
    G = a.G(8, list(widths), list(groups), classes, 8, 4 * 2 ** (len(widths) - 1))
    D = a.D(list(widths), list(groups), classes, 4 * 2 ** (len(widths) - 1))
    n = len(widths)
    for i in range(n) if bf16 else ():
        G.Model.MainLayers[i].DataType = torch.bfloat16 if i >= n - min(n - 1, 4) else torch.float32
        D.Model.MainLayers[i].DataType = torch.bfloat16 if i < min(n - 1, 4) else torch.float32
    with torch.no_grad():  # random everywhere (the authors zero each block's last conv at init): a misplaced tensor shows
        for m in (G, D):
            for n, p in m.named_parameters():
                p.copy_(torch.randn_like(p) * 0.1)
    G_ema = copy.deepcopy(G)
    with torch.no_grad():
        for p in G_ema.parameters():
            p.add_(1.0)  # G_ema differs from G
    return dict(G=G, D=D, G_ema=G_ema, training_set_kwargs=a.EasyDict(path="cifar10.zip", resolution=16), cur_nimg=123456,
                G_opt_state={"state": {0: {"exp_avg": torch.zeros(2)}}, "param_groups": []})


def dump(obj, path: Path, a) -> Path:
    path.write_bytes(pickle.dumps(obj))
    return path


@contextmanager
def gone(a):
    """The authors' module names resolve to nothing while the import runs (as on a machine without their code)."""
    saved = {n: sys.modules.pop(n) for n in list(a.mods) if n in sys.modules}
    try:
        yield
    finally:
        sys.modules.update(saved)


def test_a_snapshot_becomes_a_run_whose_tensors_sit_where_gankit_uses_them(authors, tmp_path):
    snap = snapshot(authors, classes=10)
    g, d, ge = snap["G"], snap["D"], snap["G_ema"]
    pkl = dump(snap, tmp_path / "net.pkl", authors)
    with gone(authors):
        rec = import_pickle(pkl, tmp_path / "run")
    assert rec["model"] == {"arch": "r3gan", "widths": [16, 16, 8], "groups": [4, 4, 2], "blocks": 2, "expansion": 2.0,
                            "z_dim": 8, "cond": True, "class_embed_dim": 8}
    assert rec["resolution"] == 16 and rec["num_classes"] == 10 and rec["cur_nimg"] == 123456
    assert rec["training_set"] == {"path": "cifar10.zip", "resolution": 16} and rec["bf16_stages"] == ["Model.MainLayers.1", "Model.MainLayers.2"]
    assert rec["precision"] == "bf16" and rec["bf16_rule_matches"]
    cfg = load_run_config(tmp_path / "run")
    assert cfg.model.widths == [16, 16, 8] and cfg.model.cond and cfg.data.resolution == 16
    G = load_generator(tmp_path / "run")  # G_ema
    M = ge.Model
    assert torch.equal(G.basis.basis, M.MainLayers[0].Layers[0].Basis)
    assert torch.equal(G.basis.linear.weight, M.MainLayers[0].Layers[0].LinearLayer.weight)
    assert torch.equal(G.stages[0][1].conv2.weight, M.MainLayers[0].Layers[2].LinearLayer2.Layer.weight)
    assert torch.equal(G.stages[2][0].proj.weight, M.MainLayers[2].Layers[0].LinearLayer.Layer.weight)
    assert torch.equal(G.stages[2][2].act1.bias, M.MainLayers[2].Layers[2].NonLinearity1.Bias)
    assert torch.equal(G.to_rgb.weight, M.AggregationLayer.Layer.weight) and torch.equal(G.embed.weight, M.EmbeddingLayer.weight)
    from gankit.checkpoint import list_checkpoints, load_checkpoint
    states, meta = load_checkpoint(list_checkpoints(tmp_path / "run")[-1])
    assert torch.equal(states["G"]["basis.basis"], g.Model.MainLayers[0].Layers[0].Basis)  # G is G, not G_ema
    Dm = d.Model
    assert torch.equal(states["D"]["from_rgb.weight"], Dm.ExtractionLayer.Layer.weight)
    assert torch.equal(states["D"]["stages.0.2.proj.weight"], Dm.MainLayers[0].Layers[2].LinearLayer.Layer.weight)
    assert torch.equal(states["D"]["stages.2.1.conv3.weight"], Dm.MainLayers[2].Layers[1].LinearLayer3.Layer.weight)
    assert torch.equal(states["D"]["head.basis.weight"], Dm.MainLayers[2].Layers[2].Basis.weight)
    assert torch.equal(states["D"]["head.linear.weight"], Dm.MainLayers[2].Layers[2].LinearLayer.weight)
    assert torch.equal(states["D"]["embed.weight"], Dm.EmbeddingLayer.weight)
    # every tensor of the source is used exactly once: the multisets of values agree
    src = sorted(p.sum().item() for p in ge.parameters())
    assert sorted(v.sum().item() for k, v in states["G_ema"].items()) == pytest.approx(src, abs=0, rel=0)


@pytest.mark.parametrize("classes", [0, 10])
def test_the_imported_networks_compute_what_the_source_networks_compute(authors, tmp_path, classes):
    """The stand-ins run R3GAN's reference computation (per-channel [1,3,3,1] resampling by conv, biased leaky ReLU,
    inverted-bottleneck blocks, all in float32); gankit's imported G_ema and D give the same images and logits on the
    same inputs."""
    snap = snapshot(authors, classes=classes, bf16=False)
    pkl = dump(snap, tmp_path / "net.pkl", authors)
    with gone(authors):
        import_pickle(pkl, tmp_path / "run")
    from gankit.checkpoint import list_checkpoints, load_checkpoint
    from gankit.networks import build_networks
    torch.manual_seed(5)
    z, c = torch.randn(6, 8), (F.one_hot(torch.arange(6) % 10, 10).float() if classes else None)
    G = load_generator(tmp_path / "run")
    states, meta = load_checkpoint(list_checkpoints(tmp_path / "run")[-1])
    _, D = build_networks(load_run_config(tmp_path / "run").model, tuple(meta["data_shape"]), meta["num_classes"])
    D.load_state_dict(states["D"])
    with torch.no_grad():
        want_img, img = snap["G_ema"](z, c), G(z, c)
        want_logit, logit = snap["D"](want_img, c), D(want_img, c)
    assert img.shape == (6, 3, 16, 16) and torch.allclose(img, want_img, rtol=1e-5, atol=1e-5 * want_img.abs().max())
    assert torch.allclose(logit, want_logit, rtol=1e-5, atol=1e-5 * want_logit.abs().max())


def test_the_imported_run_generates_and_fine_tunes_in_real_processes(authors, tmp_path):
    path = dump(snapshot(authors), tmp_path / "net.pkl", authors)
    run = tmp_path / "run"
    cli = [sys.executable, "-m", "gankit"]
    sets = ["--set", "train.batch=4", "--set", "train.kimg=0.008", "--set", "train.metrics=none", "--set",
            "train.tensorboard=false", "--set", "train.aug_p=0"]
    p = subprocess.run([*cli, "import", str(path), "--out", str(run), *sets], capture_output=True, text=True)
    assert p.returncode == 0 and "r3gan-cifar10-uncond" in p.stdout, p.stderr
    p = subprocess.run([*cli, "generate", "--run", str(run), "--n", "4", "--out", str(tmp_path / "s.png")],
                       capture_output=True, text=True)
    assert p.returncode == 0 and (tmp_path / "s.png").stat().st_size > 0, p.stderr
    data = tmp_path / "data"
    data.mkdir()
    from PIL import Image
    for i in range(8):
        Image.new("RGB", (16, 16), (30 * i, 0, 0)).save(data / f"{i}.png")
    p = subprocess.run([*cli, "eval", "--run", str(run), "--data", str(data), "--metrics", "fid", "--extractor", "digits",
                        "--n", "16"], capture_output=True, text=True)  # reference: --data (an import records no path)
    assert p.returncode == 0 and "fid" in p.stdout, p.stderr
    p = subprocess.run([*cli, "train", "--config", str(run / "config.json"), "--data", str(data), "--out", str(run)],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "resuming" in p.stdout, p.stdout + p.stderr  # from the imported weights


def test_a_pickle_that_would_run_code_is_refused_by_name_and_never_runs(authors, tmp_path):
    marker = tmp_path / "PWNED"
    snap = snapshot(authors)
    snap["G_ema"].hook = _Touch(marker)  # an attribute whose unpickling would create the file
    with pytest.raises(GankitError, match=r"hook is a posix\.system, which is not part of an R3GAN network"):
        pkl = dump(snap, tmp_path / "a.pkl", authors)
        with gone(authors):
            import_pickle(pkl, tmp_path / "a")
    snap2 = snapshot(authors)
    snap2["D"] = _Touch(marker)
    with pytest.raises(GankitError, match=r"posix\.system, which is not part of an R3GAN network"):
        pkl = dump(snap2, tmp_path / "b.pkl", authors)
        with gone(authors):
            import_pickle(pkl, tmp_path / "b")
    assert not marker.exists() and not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_persistence_objects_are_read_from_their_state_and_their_source_never_runs(authors, tmp_path):
    marker = tmp_path / "PWNED"
    src = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\nclass Generator: pass\n"

    def reconstruct(meta):  # the real persistence module execs meta['module_src']: so would this, if it were called
        exec(meta["module_src"], {})
    reconstruct.__module__, reconstruct.__qualname__ = "torch_utils.persistence", "_reconstruct_persistent_obj"
    reconstruct.__name__ = "_reconstruct_persistent_obj"
    authors.mods["torch_utils.persistence"]._reconstruct_persistent_obj = reconstruct
    snap = snapshot(authors)
    snap["G_ema"] = _Persistent(snap["G_ema"], src, reconstruct)
    pkl = dump(snap, tmp_path / "p.pkl", authors)
    with gone(authors):
        rec = import_pickle(pkl, tmp_path / "run")
    assert rec["model"]["widths"] == [16, 16, 8] and not marker.exists()
    snap = snapshot(authors)
    bad = src.replace("class Generator", "class Sneaky")
    snap["G_ema"] = _Persistent(snap["G_ema"], bad, reconstruct, name="Sneaky")
    with pytest.raises(GankitError, match="persistent object of class Sneaky"):
        pkl = dump(snap, tmp_path / "q.pkl", authors)
        with gone(authors):
            import_pickle(pkl, tmp_path / "q")
    assert not marker.exists()


def test_bad_pickles_are_one_line(tmp_path, capsys):
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle at all")
    assert main(["import", str(tmp_path / "junk.pkl"), "--out", str(tmp_path / "r")]) == 2
    assert "not an R3GAN network pickle" in capsys.readouterr().err
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    assert main(["import", str(tmp_path / "list.pkl"), "--out", str(tmp_path / "r")]) == 2
    assert "without G_ema" in capsys.readouterr().err and not (tmp_path / "r").exists()
    assert main(["import", str(tmp_path / "list.pkl"), "--out", str(tmp_path / "r"), "--set", "model.widths=8"]) == 2
    assert "shape comes from the pickle" in capsys.readouterr().err


class _Touch:
    """Unpickled by plain pickle, this runs `touch PATH`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class _Persistent:
    """Pickles like a StyleGAN3 persistent object: the reconstruct function with the class's source and state."""

    def __init__(self, module: nn.Module, src: str, fn, name: str = "") -> None:
        self.module, self.src, self.fn, self.name = module, src, fn, name or type(module).__name__

    def __reduce__(self):
        meta = {"type": "class", "version": 6, "module_src": self.src, "class_name": self.name,
                "state": dict(self.module.__dict__)}
        return (self.fn, (meta,))


def test_pickle_walks_are_bounded_before_anything_walks_them(tmp_path):
    """A cycle, a chain deeper than MAX_DEPTH and a DAG of 2^40 paths are each refused in one line, without
    recursion (the chain is far deeper than Python's recursion limit); a snapshot-sized tree passes."""
    from gankit.pickle_stubs import MAX_DEPTH, check_bounded

    cyc: list = []
    cyc.append(cyc)
    chain: list = []
    for _ in range(20_000):
        chain = [chain]
    shared: list = []
    for _ in range(40):
        shared = [shared, shared]
    for obj, words in ((cyc, "contains itself"), (chain, f"deeper than {MAX_DEPTH}"), (shared, "objects when walked")):
        with pytest.raises(GankitError, match=words):
            check_bounded({"G_ema": obj}, tmp_path / "x.pkl")
    fine: list = []
    for _ in range(12):
        fine = [fine, fine]  # shared, but 2^13 paths: walked in full by the checks after it
    check_bounded({"G_ema": fine, "layers": [{"w": torch.zeros(2)} for _ in range(1000)]}, tmp_path / "x.pkl")


def test_an_imported_float32_source_samples_as_its_authors_g_ema_in_real_processes(authors, tmp_path):
    """A source whose stages are all float32, wide enough (32+) that precision=auto would pick bf16 on a CPU with bf16 dot products:
    `gankit generate` on the imported run gives the source G_ema's images to 1e-6 (it sampled 1.2e-2 away in bf16)."""
    import numpy as np

    from gankit.sampling import generate, latents, to_uint8

    snap = snapshot(authors, widths=(32, 32, 32), groups=(4, 4, 4), bf16=False)
    pkl = dump(snap, tmp_path / "net.pkl", authors)
    with gone(authors):
        rec = import_pickle(pkl, tmp_path / "run")
    assert rec["bf16_stages"] == [] and rec["precision"] == "fp32"
    out = tmp_path / "s.npz"
    p = subprocess.run([sys.executable, "-m", "gankit", "generate", "--run", str(tmp_path / "run"), "--n", "6", "--seed",
                        "3", "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    G = load_generator(tmp_path / "run")
    with torch.no_grad():
        want, got = snap["G_ema"](latents(6, 8, seed=3), None), generate(G, 6, seed=3)
    assert (want - got).abs().max().item() < 1e-6 * max(1.0, want.abs().max().item())
    assert np.array_equal(np.load(out)["samples"], to_uint8(got).numpy())  # the CLI samples exactly this
    p = subprocess.run([sys.executable, "-m", "gankit", "generate", "--run", str(tmp_path / "run"), "--n", "6", "--seed",
                        "3", "--float", "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    floats = torch.from_numpy(np.load(out)["samples"])  # --float: G's float32 outputs, unquantised
    assert floats.dtype == torch.float32 and (want - floats).abs().max().item() < 1e-6 * max(1.0, want.abs().max().item())


def test_fine_tuning_an_import_keeps_its_g_ema(authors, tmp_path):
    """The imported schedule starts at 0 images; with train.ema_ramp=false (set by import) the first steps average
    into the source's G_ema at the final half-life instead of replacing it with G (half-life 0)."""
    snap = snapshot(authors)
    pkl = dump(snap, tmp_path / "net.pkl", authors)
    with gone(authors):
        import_pickle(pkl, tmp_path / "run", {"train.batch": 4, "train.kimg": 0.008, "train.metrics": "none",
                                              "train.tensorboard": False, "train.aug_p": 0, "train.ema_kimg": 10})
    assert load_run_config(tmp_path / "run").train.ema_ramp is False
    before = {k: v.clone() for k, v in load_generator(tmp_path / "run").state_dict().items()}
    data = tmp_path / "data"
    data.mkdir()
    from PIL import Image
    for i in range(8):
        Image.new("RGB", (16, 16), (30 * i, 0, 0)).save(data / f"{i}.png")
    assert main(["train", "--config", str(tmp_path / "run" / "config.json"), "--data", str(data), "--out",
                 str(tmp_path / "run")]) == 0
    after = load_generator(tmp_path / "run").state_dict()
    from gankit.checkpoint import list_checkpoints, load_checkpoint
    G = load_checkpoint(list_checkpoints(tmp_path / "run")[-1])[0]["G"]
    k = "basis.basis"  # G_ema = G + 1 in the source: a replaced G_ema would sit near G, a kept one near G_ema
    assert (after[k] - before[k]).abs().max() < 0.05 < (after[k] - G[k]).abs().min()
