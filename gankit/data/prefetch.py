"""Batches prepared ahead of the training step on a worker thread, in the loader's exact order.

The main thread draws each batch's indices (cheap, deterministic); a worker thread loads them: decodes, converts
uint8 to float, mirrors x-flipped items and, for a GPU, copies into pinned memory so that the step's copy to the
device can run with non_blocking. The position a checkpoint records is that of the next batch handed out, not of
the batches prepared, so a run resumes bitwise whether or not it prefetches.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from .base import InfiniteLoader


class Prefetcher:
    """`depth` batches of `loader` in flight on one worker thread; the same batches, states and skips as the loader."""

    def __init__(self, loader: InfiniteLoader, depth: int = 2, pin: bool = False) -> None:
        if depth < 1:
            raise ValueError(f"prefetch depth must be >= 1, got {depth}")
        self.loader, self.depth, self.pin = loader, depth, pin
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gankit-data")
        self._queue: deque[tuple[dict, Future]] = deque()  # (the loader's state before the batch, the batch)

    def _load(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.loader.load(idx)
        return (x.pin_memory(), y.pin_memory()) if self.pin else (x, y)

    def _fill(self) -> None:
        while len(self._queue) < self.depth:
            state = self.loader.state_dict()
            self._queue.append((state, self._pool.submit(self._load, self.loader.next_indices())))

    def __iter__(self) -> "Prefetcher":
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        self._fill()
        _, batch = self._queue.popleft()
        self._fill()  # the next ones start while the caller trains on this one
        return batch.result()

    def skip(self) -> None:
        """Pass over the next batch (prepared or not) without handing it out."""
        if self._queue:
            self._queue.popleft()[1].cancel()
        else:
            self.loader.skip()

    def wait(self) -> None:
        """Block until the batches in flight are loaded (before something else reads the dataset's files)."""
        for _, batch in self._queue:
            if not batch.cancelled():
                batch.exception()

    def state_dict(self) -> dict:
        return self._queue[0][0] if self._queue else self.loader.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self._drop()
        self.loader.load_state_dict(state)

    def _drop(self) -> None:
        for _, batch in self._queue:
            batch.cancel()
        self.wait()
        self._queue.clear()

    def close(self) -> None:
        self._drop()
        self._pool.shutdown(wait=True)


def prefetch_depth(depth: int, device: torch.device) -> int:
    """train.prefetch resolved: -1 (the default) is 2 on CUDA, where the GPU would wait on the CPU, and 0 on the CPU."""
    return depth if depth >= 0 else 2 if device.type == "cuda" else 0


def prefetching(loader: InfiniteLoader, depth: int, device: torch.device) -> InfiniteLoader | Prefetcher:
    """The loader itself for depth 0, else a Prefetcher (pinned memory when the step runs on CUDA); depth as
    prefetch_depth resolves it."""
    depth = prefetch_depth(depth, device)
    return Prefetcher(loader, depth, pin=device.type == "cuda") if depth > 0 else loader
