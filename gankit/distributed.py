"""Data parallelism with torch.distributed, started by torchrun; every function also works in one plain process.

No DistributedDataParallel: R1/R2 need a double backward (create_graph), which DDP's gradient hooks do
not support, so, as in the R3GAN code, each rank runs its own backward and gradients are all-reduced by
hand before the optimizer steps. NCCL on GPUs, gloo on CPU.
"""
from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import Any, Iterable, NoReturn

import torch
import torch.distributed as dist
from torch import nn

from .config import DEVICE_NAME
from .errors import GankitError


def init(device_name: str = "auto") -> tuple[int, int, torch.device]:
    """(rank, world size, device). Joins the process group when torchrun set WORLD_SIZE > 1."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank, local = (0, 0) if world == 1 else (int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")))
    except (KeyError, ValueError) as e:
        raise GankitError(f"WORLD_SIZE={os.environ.get('WORLD_SIZE')} is set but {e} is missing or not a number: launch "
                          "with `torchrun --nproc_per_node=N -m gankit train ...`, or unset WORLD_SIZE for one process") from None
    if world == 1:
        return 0, 1, resolve_device(device_name, 0)
    device = resolve_device(device_name, local)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(minutes=30), device_id=device if device.type == "cuda" else None)
    return rank, world, device


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """auto, cpu, cuda or cuda:N -> a device that exists here (cuda: this process's local GPU), else one line."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if not DEVICE_NAME.match(name):
        raise GankitError(f"device '{name}' is unknown; use auto, cpu, cuda, cuda:N or mps")
    if name == "mps" and not torch.backends.mps.is_available():
        raise GankitError("device mps was asked for but this machine has no MPS device; use cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GankitError(f"device {name} was asked for but no CUDA device is visible; use cpu")
        if name != "cuda" and int(name[5:]) >= torch.cuda.device_count():
            raise GankitError(f"device {name} does not exist: {torch.cuda.device_count()} CUDA devices are visible")
        if name == "cuda":
            name = f"cuda:{local_rank}"
        torch.cuda.set_device(torch.device(name))
    return torch.device(name)


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


@torch.no_grad()
def all_reduce_grads(params: Iterable[nn.Parameter]) -> None:
    """Sum each parameter's gradient over ranks in one flat buffer (the loss is already scaled by 1/global batch)."""
    if not active():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """A tensor summed over ranks (a copy; the input itself in one process)."""
    if not active():
        return values
    out = values.clone()
    dist.all_reduce(out)
    return out


def gather_objects(obj: Any) -> list[Any]:
    """[obj of rank 0, obj of rank 1, ...] on every rank."""
    if not active():
        return [obj]
    out: list[Any] = [None] * world()
    dist.all_gather_object(out, obj)
    return out



def exit_process(code: int) -> NoReturn:
    """End this process with `code`. A torchrun worker (WORLD_SIZE > 1) flushes its output and leaves with os._exit:
    even after barrier + destroy_process_group, about 1 exit in 50 under load still aborted in interpreter teardown
    ("terminate called without an active exception", SIGABRT with no Python frame), turning a finished run into a
    failed one. Every file gankit writes is closed before this point, so skipping the teardown loses nothing."""
    if os.environ.get("WORLD_SIZE", "1").strip() not in ("", "0", "1"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def shutdown() -> None:
    """Leave the process group; the barrier first keeps a rank from tearing down gloo pairs another still uses
    (without it, about 1 torchrun exit in 8 aborted with "terminate called without an active exception")."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
