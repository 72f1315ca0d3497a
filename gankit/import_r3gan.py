"""`gankit import`: the authors' R3GAN network pickles (brownvc/R3GAN's training snapshots) as gankit runs,
without running any code from the pickle.

Their loop pickles dict(G, D, G_ema, training_set_kwargs, cur_nimg, <phase>_opt_state) with G and D modules of
their classes (training.networks.Generator wrapping R3GAN.Networks.Generator, ...); plain `pickle.load` would import
and run their code, and a pickle can name any callable. Here a restricted unpickler resolves only tensor storage
(through torch's weights-only loader), tensors, ordered dicts, dtypes and devices; every other global becomes an inert
`Stub` that records its name, arguments and state and is never called. StyleGAN3-style `persistence` objects, which
carry their class's source code as a string, are read from their recorded state; the source is never run. The stub
tree is then checked class by class against the names an R3GAN network is made of (anything else is refused by
name), mapped onto gankit's r3gan networks (shapes inferred from the tensors), and written as a normal run directory
(config.json, checkpoints/ckpt-000000000 as safetensors + JSON, import.json with the provenance).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from .errors import GankitError
from .files import new_folder, write_atomic, write_json
from .pickle_stubs import Stub, StubUnpickler, check_bounded

# the classes an R3GAN snapshot's networks are built from, by (module, name); persistence objects by name alone
NETWORK_CLASSES = {
    ("training.networks", "Generator"), ("training.networks", "Discriminator"),
    *(("R3GAN.Networks", n) for n in ("Generator", "Discriminator", "GeneratorStage", "DiscriminatorStage",
                                      "ResidualBlock", "UpsampleLayer", "DownsampleLayer", "GenerativeBasis",
                                      "DiscriminativeBasis", "Convolution")),
    *(("R3GAN.FusedOperators", n) for n in ("BiasedActivation", "BiasedActivationCUDA", "BiasedActivationReference")),
    *(("R3GAN.Resamplers", n) for n in ("InterpolativeUpsampler", "InterpolativeDownsampler",
                                        "InterpolativeUpsamplerCUDA", "InterpolativeDownsamplerCUDA",
                                        "InterpolativeUpsamplerReference", "InterpolativeDownsamplerReference")),
    ("torch.nn.modules.container", "ModuleList"), ("torch.nn.modules.conv", "Conv2d"),
    ("torch.nn.modules.linear", "Linear"),
}
OTHER_CLASSES = {("dnnlib.util", "EasyDict")}  # training_set_kwargs
PERSISTENT = ("torch_utils.persistence", "_reconstruct_persistent_obj")


def read_pickle(path: Path) -> Any:
    """The pickle's object tree with every unknown class as a Stub; nothing from the pickle is executed."""
    try:
        with open(path, "rb") as f:
            return StubUnpickler(f).load()
    except OSError as e:
        raise GankitError(f"cannot read {path} ({e.strerror or e}); check the path") from None
    except Exception as e:  # noqa: BLE001  a corrupt or foreign file: any error of the unpickler
        raise GankitError(f"{path} is not an R3GAN network pickle ({type(e).__name__}: {e}); pass a "
                          "network-snapshot-*.pkl of the authors' training loop") from None


def _as_module(obj: Any, where: str) -> tuple[str, dict]:
    """(class name, __dict__) of a module stub; persistence objects by their recorded class name and state."""
    if not isinstance(obj, Stub):
        raise GankitError(f"{where} is a {type(obj).__name__}, not a network module; refused")
    if (obj.module, obj.name) == PERSISTENT:  # the class's source travels as a string: never run, only its state used
        meta = obj.args[0] if obj.args and isinstance(obj.args[0], dict) else {}
        name, state = str(meta.get("class_name", "?")), meta.get("state")
        if not any(name == n for _, n in NETWORK_CLASSES):
            raise GankitError(f"{where} is a persistent object of class {name}, which is not part of an R3GAN network; refused")
        return name, state if isinstance(state, dict) else {}
    if (obj.module, obj.name) not in NETWORK_CLASSES:
        raise GankitError(f"{where} is a {obj.qualname}, which is not part of an R3GAN network; refused")
    return obj.name, obj.state if isinstance(obj.state, dict) else {}


def flatten_module(obj: Any, prefix: str = "") -> tuple[dict[str, torch.Tensor], dict[str, str], dict]:
    """(dotted tensors, dotted module class names, top-level attributes) of a module stub tree, every class checked."""
    name, state = _as_module(obj, prefix.rstrip(".") or "the network")
    tensors: dict[str, torch.Tensor] = {}
    classes = {prefix.rstrip("."): name}
    for group in ("_parameters", "_buffers"):
        for key, t in (state.get(group) or {}).items():
            if t is None:
                continue
            if not isinstance(t, torch.Tensor):
                raise GankitError(f"{prefix}{key} is a {type(t).__name__}, not a tensor; refused")
            tensors[prefix + key] = t
    for key, child in (state.get("_modules") or {}).items():
        t, c, _ = flatten_module(child, f"{prefix}{key}.")
        tensors.update(t)
        classes.update(c)
    for key, value in state.items():
        if key not in ("_parameters", "_buffers", "_modules"):
            _check_inert(value, f"{prefix}{key}")
    attrs = {k: v for k, v in state.items() if not k.startswith("_") and isinstance(v, (int, float, str, bool))}
    return tensors, classes, attrs


def _check_inert(obj: Any, where: str) -> None:
    """A module's other attributes (hooks, flags, dtypes): plain values only; an object of any named class is refused."""
    if isinstance(obj, Stub):
        raise GankitError(f"{where} is a {obj.qualname}, which is not part of an R3GAN network; refused")
    if isinstance(obj, dict):
        for v in obj.values():
            _check_inert(v, where)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            _check_inert(v, where)


def _stage_layers(classes: dict[str, str], stage: str) -> list[str]:
    return sorted({k.split(".")[4] for k in classes if k.startswith(stage + ".Layers.") and k.count(".") >= 4},
                  key=int)


def infer_model(G: dict[str, torch.Tensor], classes: dict[str, str], attrs: dict) -> dict[str, Any]:
    """gankit r3gan model settings from the authors' generator tensors: widths, groups, blocks, expansion, z, classes."""
    stages = sorted({int(k.split(".")[2]) for k in classes if re.fullmatch(r"Model\.MainLayers\.\d+", k)})
    if not stages or stages != list(range(len(stages))):
        raise GankitError("the generator has no Model.MainLayers stages; not an R3GAN generator")
    widths, groups, blocks, expansion = [], [], set(), set()
    for i in stages:
        st = f"Model.MainLayers.{i}"
        layers = _stage_layers(classes, st)
        res = [j for j in layers if classes[f"{st}.Layers.{j}"] == "ResidualBlock"]
        blocks.add(len(res))
        w1 = G[f"{st}.Layers.{res[0]}.LinearLayer1.Layer.weight"]
        w2 = G[f"{st}.Layers.{res[0]}.LinearLayer2.Layer.weight"]
        widths.append(int(w1.shape[1]))
        expansion.add(w1.shape[0] / w1.shape[1])
        groups.append(int(w2.shape[0] // w2.shape[1]))
    if len(blocks) != 1 or len(expansion) != 1:
        raise GankitError(f"the generator's stages differ in blocks {sorted(blocks)} or expansion {sorted(expansion)}; "
                          "gankit's r3gan has one of each")
    embed = G.get("Model.EmbeddingLayer.weight")
    z_dim = int(attrs.get("z_dim", G["Model.MainLayers.0.Layers.0.LinearLayer.weight"].shape[1]
                          - (embed.shape[0] if embed is not None else 0)))
    model = {"arch": "r3gan", "widths": widths, "groups": groups, "blocks": blocks.pop(), "expansion": expansion.pop(),
             "z_dim": z_dim, "cond": embed is not None}
    if embed is not None:
        model["class_embed_dim"] = int(embed.shape[0])
    return {"model": model, "resolution": 4 * 2 ** (len(stages) - 1),
            "num_classes": int(embed.shape[1]) if embed is not None else 0}


def _map_block(src: str, dst: str) -> dict[str, str]:
    return {f"{src}.LinearLayer{k}.Layer.weight": f"{dst}.conv{k}.weight" for k in (1, 2, 3)} | {
        f"{src}.NonLinearity{k}.Bias": f"{dst}.act{k}.bias" for k in (1, 2)}


def map_generator(classes: dict[str, str]) -> dict[str, str]:
    """authors' G tensor name -> gankit's (stage 0: basis then blocks; later stages: transition then blocks)."""
    out = {"Model.MainLayers.0.Layers.0.Basis": "basis.basis",
           "Model.MainLayers.0.Layers.0.LinearLayer.weight": "basis.linear.weight",
           "Model.AggregationLayer.Layer.weight": "to_rgb.weight", "Model.EmbeddingLayer.weight": "embed.weight"}
    for i in sorted({int(k.split(".")[2]) for k in classes if re.fullmatch(r"Model\.MainLayers\.\d+", k)}):
        st = f"Model.MainLayers.{i}"
        for j in _stage_layers(classes, st):
            kind, j2 = classes[f"{st}.Layers.{j}"], int(j) - (1 if i == 0 else 0)
            if kind == "ResidualBlock":
                out.update(_map_block(f"{st}.Layers.{j}", f"stages.{i}.{j2}"))
            elif kind == "UpsampleLayer":
                out[f"{st}.Layers.{j}.LinearLayer.Layer.weight"] = f"stages.{i}.{j2}.proj.weight"
    return out


def map_discriminator(classes: dict[str, str]) -> dict[str, str]:
    """authors' D tensor name -> gankit's (each stage: blocks then a transition; the last stage's is the head)."""
    out = {"Model.ExtractionLayer.Layer.weight": "from_rgb.weight", "Model.EmbeddingLayer.weight": "embed.weight"}
    for i in sorted({int(k.split(".")[2]) for k in classes if re.fullmatch(r"Model\.MainLayers\.\d+", k)}):
        st = f"Model.MainLayers.{i}"
        for j in _stage_layers(classes, st):
            kind = classes[f"{st}.Layers.{j}"]
            if kind == "ResidualBlock":
                out.update(_map_block(f"{st}.Layers.{j}", f"stages.{i}.{j}"))
            elif kind == "DownsampleLayer":
                out[f"{st}.Layers.{j}.LinearLayer.Layer.weight"] = f"stages.{i}.{j}.proj.weight"
            elif kind == "DiscriminativeBasis":
                out[f"{st}.Layers.{j}.Basis.weight"] = "head.basis.weight"
                out[f"{st}.Layers.{j}.LinearLayer.weight"] = "head.linear.weight"
    return out


def load_into(net: torch.nn.Module, tensors: dict[str, torch.Tensor], names: dict[str, str], what: str) -> None:
    """Copy the authors' tensors into a gankit network by the name map; every tensor on both sides must be used."""
    from .networks.layers import lowpass_kernel

    state, used = {}, set()
    for src, t in tensors.items():
        if src.endswith("Resampler.Kernel"):  # gankit's resamplers fix the [1,3,3,1] filter: check it is that one
            if t.shape != (4, 4) or not torch.allclose(t.float(), lowpass_kernel(), atol=1e-7):
                raise GankitError(f"{what}'s {src} is not the [1,3,3,1] low-pass filter gankit's r3gan uses; refused")
            continue
        if src not in names:
            raise GankitError(f"{what} has a tensor {src} that gankit's r3gan has no place for; refused")
        state[names[src]] = t.detach().float().clone()
        used.add(src)
    mine = net.state_dict()
    missing = sorted(set(mine) - set(state))
    wrong = sorted(k for k in state if k in mine and mine[k].shape != state[k].shape)
    if missing or wrong or set(state) - set(mine):
        raise GankitError(f"{what} does not fit gankit's r3gan of the inferred shape (missing {missing[:3]}, wrong "
                          f"shapes {wrong[:3]}, extra {sorted(set(state) - set(mine))[:3]}); refused")
    net.load_state_dict(state)


def import_pickle(path: Path, out: Path, sets: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read an authors' R3GAN snapshot pickle and write run directory `out`; returns what import.json records.

    sets: config overrides for fine-tuning the run (its recipe: batch, lr, kimg, ...), on top of the preset whose
    networks match the pickle's; the model's shape comes from the pickle and cannot be set."""
    from .checkpoint import save_checkpoint
    from .networks import build_networks
    from .presets import PRESETS, resolve

    path, out, sets = Path(path), Path(out), dict(sets or {})
    shaped = sorted(k for k in sets if k.startswith("model.") or k in ("data.resolution", "data.classes"))
    if shaped:
        raise GankitError(f"{', '.join(shaped)}: the networks' shape comes from the pickle; set only the recipe (train.*, "
                          "loss.*, aug.*, data.path)")
    if out.exists() and any(out.iterdir()):
        raise GankitError(f"--out {out} is not empty; import into a new directory")
    data = read_pickle(path)
    check_bounded(data, path)
    if not isinstance(data, dict) or "G_ema" not in data:
        raise GankitError(f"{path} holds a {type(data).__name__} without G_ema; an R3GAN snapshot is a dict with G, D, "
                          "G_ema, training_set_kwargs and cur_nimg")
    known = {"G", "D", "G_ema", "training_set_kwargs", "cur_nimg"}
    extra = [k for k in data if k not in known and not re.fullmatch(r"\w+_opt_state", str(k))]
    if extra:
        raise GankitError(f"{path} holds unexpected entries {extra}; refused")
    for k in data:
        if k.endswith("_opt_state"):
            _check_plain(data[k], k)
    for k in ("training_set_kwargs", "cur_nimg"):  # anything foreign is refused at any depth
        if k in data:
            _check_plain(data[k], k)
    nets = {k: flatten_module(data[k]) for k in ("G", "G_ema", "D") if k in data}
    for k, (_, classes, _) in nets.items():
        want = "Discriminator" if k == "D" else "Generator"
        if classes[""] != want:
            raise GankitError(f"{path}: {k} is a {classes['']}, not a {want}; refused")
    tensors, classes, attrs = nets["G_ema"]
    found = infer_model(tensors, classes, attrs)
    if attrs.get("img_resolution", found["resolution"]) != found["resolution"]:
        raise GankitError(f"G_ema says img_resolution {attrs['img_resolution']} but has stages for {found['resolution']}")
    overrides = {f"model.{k}": v for k, v in found["model"].items()} | {
        "data.name": "folder", "data.resolution": found["resolution"], "data.classes": found["num_classes"]}
    fallback = "r3gan-cifar10" if found["num_classes"] else "r3gan-cifar10-uncond"  # the recipe when no preset fits
    preset = next((p for p in PRESETS.names() if p.startswith("r3gan-") and _fits(resolve(p), overrides)), fallback)
    bf16 = sorted(k.rsplit(".", 1)[0] for k, v in _data_types(data["G_ema"]).items() if v == "bfloat16")
    # sample as the source does (float32 where it had no bf16 stage), and keep its G_ema when fine-tuning starts
    source = {"train.precision": "bf16" if bf16 else "fp32", "train.ema_ramp": False}
    cfg = resolve(preset, {**overrides, **source, **sets})
    shape = (3, found["resolution"], found["resolution"])
    G, D = build_networks(cfg.model, shape, found["num_classes"])
    G_ema, _ = build_networks(cfg.model, shape, found["num_classes"])
    load_into(G_ema, tensors, map_generator(classes), "G_ema")
    if "G" in data:
        load_into(G, nets["G"][0], map_generator(nets["G"][1]), "G")
    else:
        G.load_state_dict(G_ema.state_dict())
    if "D" in data:
        load_into(D, nets["D"][0], map_discriminator(nets["D"][1]), "D")
    adam = {n: torch.optim.Adam(m.parameters(), lr=cfg.train.lr, betas=(0.0, 0.99)).state_dict() for n, m in (("G", G), ("D", D))}
    states = {"G": G.state_dict(), "G_ema": G_ema.state_dict(), "D": D.state_dict(), "opt_G": adam["G"], "opt_D": adam["D"],
              "loader": {"epoch": 0, "pos": 0, "seed": cfg.train.seed},
              "counters": {"images": 0, "step": 0, "lr_scale": 1.0, "rollbacks": 0},
              "rng": {"latents": torch.Generator().manual_seed(cfg.train.seed + 1).get_state(), "ranks": []}, "loss": {}}
    cfg.train.horizon_kimg = cfg.train.kimg
    meta = {"images": 0, "step": 0, "data_shape": list(shape), "num_classes": found["num_classes"], "metrics": {},
            "config": cfg.to_dict()}
    nimg = data.get("cur_nimg")
    record = {"source": str(path.resolve()), "cur_nimg": nimg if isinstance(nimg, int) else None,
              "preset": preset, "model": found["model"], "resolution": found["resolution"], "num_classes": found["num_classes"],
              "has": sorted(k for k in ("G", "G_ema", "D") if k in data), "bf16_stages": bf16,
              "training_set": _plain(data.get("training_set_kwargs")),
              "precision": cfg.train.precision, "bf16_rule_matches": not bf16 or bf16 == _rule_stages(len(found["model"]["widths"])),
              "note": "weights only: Adam's moments start fresh and the schedule at 0 images, except the EMA half-life, "
                      "at its final value from the first step (train.ema_ramp=false) so that the source's G_ema is kept; "
                      "the source's optimiser states are not imported"}
    with new_folder(out) as build:  # renamed into place whole: a full disk leaves no partial run
        write_atomic(build / "config.json", cfg.to_json().encode())
        save_checkpoint(build / "checkpoints" / "ckpt-000000000", states, meta)
        write_json(build / "import.json", record)
    return record


def _rule_stages(n: int) -> list[str]:
    """The G_ema stage paths gankit runs in bf16 under train.precision=bf16 (the authors' FP16Stages rule)."""
    from .networks.r3gan import bf16_stages

    return sorted(f"Model.MainLayers.{i}" for i in range(n - bf16_stages(n), n))


def _fits(cfg: Any, overrides: dict[str, Any]) -> bool:
    """Whether a preset already has the inferred model and data shape (then the run keeps that preset's name)."""
    flat = {**{f"model.{k}": v for k, v in vars(cfg.model).items()}, **{f"data.{k}": v for k, v in vars(cfg.data).items()}}
    return all(flat.get(k) == v for k, v in overrides.items()) and not cfg.model.widths_d


def _check_plain(obj: Any, where: str) -> None:
    """Optimiser states and dataset settings: only dicts, lists, numbers, strings, tensors and EasyDicts."""
    if isinstance(obj, Stub):
        if (obj.module, obj.name) not in OTHER_CLASSES:
            raise GankitError(f"{where} holds a {obj.qualname}, which an R3GAN snapshot does not; refused")
        for v in obj.items.values():
            _check_plain(v, where)
    elif isinstance(obj, dict):
        for v in obj.values():
            _check_plain(v, where)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_plain(v, where)
    elif not isinstance(obj, (int, float, str, bool, type(None), torch.Tensor)):
        raise GankitError(f"{where} holds a {type(obj).__name__}; refused")


def _plain(obj: Any) -> Any:
    """A JSON-able copy of training_set_kwargs (EasyDict stubs as dicts)."""
    if isinstance(obj, Stub):
        return {str(k): _plain(v) for k, v in obj.items.items()}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj if isinstance(obj, (int, float, str, bool, type(None))) else repr(obj)


def _data_types(obj: Any, prefix: str = "") -> dict[str, str]:
    """Each stage's DataType attribute (the authors' bf16 stages), by module path."""
    _, state = _as_module(obj, prefix or "G_ema")
    out = {prefix + "DataType": str(state["DataType"]).replace("torch.", "")} if "DataType" in state else {}
    for key, child in (state.get("_modules") or {}).items():
        out.update(_data_types(child, f"{prefix}{key}."))
    return out
