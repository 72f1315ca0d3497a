"""TrainState: everything a run changes while it trains; its state_dict() is the checkpoint."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from .. import distributed as dist
from ..checkpoint import process_rng_state, restore_process_rng
from ..data import InfiniteLoader
from ..data.prefetch import Prefetcher
from ..errors import GankitError


class Stateful(Protocol):
    """What the state needs of the objective (objectives.Objective): its state, for the checkpoint."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class TrainState:
    """Everything a run changes while it trains; its state_dict() is the checkpoint (collective across ranks)."""

    G: nn.Module
    G_ema: nn.Module
    D: nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    loader: InfiniteLoader | Prefetcher
    rng: torch.Generator  # latents: the same stream on every rank, each takes its slice
    aug_rng: torch.Generator  # augmentation: seeded from (seed, rank)
    device: torch.device
    images: int = 0
    step: int = 0
    lr_scale: float = 1.0  # lowered by rollbacks after non-finite values
    rollbacks: int = 0
    objective: Stateful | None = None  # the method's objective (objectives.Objective): its state (BEGAN's k_t) is checkpointed
    # this rank's sums of each statistic since the last log line and their counts: checkpointed, so that the first
    # line after a resume averages the same steps as an uninterrupted run's
    log_sums: dict[str, Any] = field(default_factory=dict)
    log_counts: dict[str, int] = field(default_factory=dict)
    phema: Stateful | None = None  # post-hoc EMA profiles (phema.PowerEMA), when train.phema asks for them

    def state_dict(self) -> dict[str, Any]:
        log = {"sums": {k: float(v) for k, v in self.log_sums.items()}, "counts": dict(self.log_counts)}
        mine = {"aug": self.aug_rng.get_state(), **process_rng_state(self.device)}
        return {"G": self.G.state_dict(), "G_ema": self.G_ema.state_dict(), "D": self.D.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(), "loader": self.loader.state_dict(),
                "counters": {"images": self.images, "step": self.step, "lr_scale": self.lr_scale, "rollbacks": self.rollbacks},
                "rng": {"latents": self.rng.get_state(), "ranks": dist.gather_objects(mine)},
                "loss": self.objective.state_dict() if self.objective is not None else {},
                "log": {"ranks": dist.gather_objects(log)},  # bookkeeping of the log line, not a result
                **({"phema": self.phema.state_dict()} if self.phema is not None else {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("G", "G_ema", "D", "opt_G", "opt_D", "loader"):
            getattr(self, name).load_state_dict(state[name])
        c = state["counters"]
        self.images, self.step = int(c["images"]), int(c["step"])
        self.lr_scale, self.rollbacks = float(c.get("lr_scale", 1.0)), int(c.get("rollbacks", 0))
        self.rng.set_state(state["rng"]["latents"])
        if self.objective is not None:
            self.objective.load_state_dict(state["loss"])
        if self.phema is not None:
            if "phema" not in state:
                raise GankitError("this run's checkpoints hold no post-hoc EMA profiles; train.phema cannot be "
                                  "switched on during a run: start a new one (--restart, or another --out)")
            self.phema.load_state_dict(state["phema"])
        ranks = state["rng"]["ranks"]
        if len(ranks) == dist.world():  # same number of ranks: every stream continues exactly
            self.aug_rng.set_state(ranks[dist.rank()]["aug"])
            restore_process_rng(ranks[dist.rank()], self.device)
            logs = state.get("log", {}).get("ranks", [])  # absent in older checkpoints: the line starts afresh
            if len(logs) == len(ranks):
                self.log_sums, self.log_counts = dict(logs[dist.rank()]["sums"]), dict(logs[dist.rank()]["counts"])
