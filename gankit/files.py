"""Writing files whole: a temp file beside the target, flushed and fsynced, then renamed over it."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader (or a kill, or a full disk) sees the old file or the new one, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, obj: Any) -> None:
    """`obj` as indented JSON, written atomically."""
    write_atomic(path, (json.dumps(obj, indent=2) + "\n").encode())
