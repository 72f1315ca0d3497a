"""The Prefetcher hands out the loader's batches in the loader's order, with the loader's states and skips."""
from __future__ import annotations

import torch

from gankit.data import InfiniteLoader
from gankit.data.digits import TensorImages
from gankit.data.prefetch import Prefetcher, prefetching


def _loader(xflip: bool = True) -> InfiniteLoader:
    images = torch.arange(10 * 3 * 4 * 4, dtype=torch.uint8).reshape(10, 3, 4, 4)
    return InfiniteLoader(TensorImages(images, torch.arange(10) % 3, 3), batch=4, seed=5, xflip=xflip)


def _same(a: tuple, b: tuple) -> bool:
    return torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_same_batches_across_epochs_and_flips() -> None:
    ref, pre = _loader(), Prefetcher(_loader(), depth=3)
    try:
        assert all(_same(next(ref), next(pre)) for _ in range(12))  # 48 items: over two epochs of 20 (x-flip doubles)
    finally:
        pre.close()


def test_state_dict_is_the_next_batch_handed_out_not_the_ones_prepared() -> None:
    ref, pre = _loader(), Prefetcher(_loader(), depth=3)
    for _ in range(4):
        next(ref), next(pre)
    assert pre.state_dict() == ref.state_dict()
    resumed = Prefetcher(_loader(), depth=2)
    resumed.load_state_dict(pre.state_dict())
    assert all(_same(next(ref), next(resumed)) for _ in range(6))
    pre.close(), resumed.close()


def test_skip_passes_over_one_batch_like_the_loader() -> None:
    ref, pre = _loader(), Prefetcher(_loader(), depth=2)
    next(ref), next(pre)
    ref.skip(), pre.skip()
    assert pre.state_dict() == ref.state_dict() and _same(next(ref), next(pre))
    pre.close()


def test_depth_zero_is_the_loader_itself() -> None:
    loader = _loader()
    assert prefetching(loader, 0, torch.device("cpu")) is loader
    p = prefetching(_loader(), 2, torch.device("cpu"))
    assert isinstance(p, Prefetcher) and not p.pin
    p.close()


def test_auto_depth_prefetches_on_cuda_only() -> None:
    loader = _loader()
    assert prefetching(loader, -1, torch.device("cpu")) is loader
    p = prefetching(_loader(), -1, torch.device("cuda"))  # no CUDA needed to build it: pinning happens on load
    assert isinstance(p, Prefetcher) and p.depth == 2 and p.pin
    p.close()
