"""Reading a pickle without running it: every global it names becomes an inert `Stub`, except a few that only build
tensors (through torch's weights-only loader), ordered dicts, dtypes and devices; and a walk that refuses, in bounded
time, an object tree with a cycle, too deep, or too large when walked path by path (gankit.import_r3gan reads the
authors' snapshots through it)."""
from __future__ import annotations

import functools
import io
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from .errors import GankitError


class Stub:
    """An instance of a class the pickle names, never resolved to code: its name, arguments, state and items."""

    module = name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> "Stub":
        obj = object.__new__(cls)
        obj.args, obj.state, obj.items, obj.list = args, None, {}, []
        return obj

    def __init__(self, *args: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.list.append(value)

    def extend(self, values: Any) -> None:
        self.list.extend(values)

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@functools.lru_cache(maxsize=None)
def _stub_class(module: str, name: str) -> type:
    """The inert class standing for global module.name (one per name)."""
    return type(name, (Stub,), {"module": module, "name": name, "__module__": "gankit.pickle_stubs.stubs"})


def _storage(data: bytes) -> Any:
    """A tensor storage from torch's legacy byte format, through torch's weights-only loader (no code runs)."""
    return torch.load(io.BytesIO(data), weights_only=True)


def _parameter(data: torch.Tensor, *_: Any) -> torch.Tensor:
    return data


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    """copyreg._reconstructor for stub classes only: an empty stub (BUILD then gives its state)."""
    if not (isinstance(cls, type) and issubclass(cls, Stub)):
        raise pickle.UnpicklingError(f"copyreg._reconstructor of {cls!r} is not allowed")
    return cls.__new__(cls)


SAFE = {("collections", "OrderedDict"): OrderedDict, ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _parameter, ("torch._utils", "_rebuild_parameter_with_state"): _parameter,
        ("torch.storage", "_load_from_bytes"): _storage, ("copyreg", "_reconstructor"): _reconstructor,
        ("builtins", "object"): object, ("torch", "device"): torch.device}


class StubUnpickler(pickle.Unpickler):
    """Resolves only SAFE globals and torch dtypes; any other global becomes a Stub class."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE:
            return SAFE[(module, name)]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        return _stub_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids (torch.save's format) are not a network pickle")


MAX_DEPTH = 200  # an R3GAN snapshot nests a few dozen levels (modules, their state dicts, lists)
MAX_NODES = 5_000_000  # objects counted once per path to them: what the checks below walk


def _children(obj: Any) -> list:
    if isinstance(obj, Stub):
        return [*obj.args, obj.state, *obj.items.keys(), *obj.items.values(), *obj.list]
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    return list(obj) if isinstance(obj, (list, tuple, set, frozenset)) else []


def check_bounded(root: Any, path: Path) -> None:
    """Refuse, in one line and without recursion, a pickle whose object tree has a cycle, nests deeper than MAX_DEPTH,
    or holds more than MAX_NODES objects when walked path by path (a list shared with itself 40 levels deep is
    2^40 paths): the walks below then end, and in bounded time."""
    size: dict[int, int] = {}  # id -> objects on the paths below it (memoised: each object is expanded once)
    on_path: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(root, 0, False)]
    while stack:
        obj, depth, expanded = stack.pop()
        if not isinstance(obj, (Stub, dict, list, tuple, set, frozenset)):
            continue
        i = id(obj)
        if expanded:
            on_path.discard(i)
            size[i] = 1 + sum(size.get(id(c), 1) for c in _children(obj))
            if size[i] > MAX_NODES:
                raise GankitError(f"{path} expands to more than {MAX_NODES:,} objects when walked (shared sub-objects); "
                                  "a network snapshot holds far fewer: refused")
            continue
        if i in size:
            continue
        if i in on_path:
            raise GankitError(f"{path} holds an object that contains itself; a network snapshot has no cycles: refused")
        if depth > MAX_DEPTH:
            raise GankitError(f"{path} nests deeper than {MAX_DEPTH} levels; a network snapshot nests far less: refused")
        on_path.add(i)
        stack.append((obj, depth, True))
        stack.extend((c, depth + 1, False) for c in _children(obj))
