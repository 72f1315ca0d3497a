"""Writing files whole, through one helper: the bytes go to a temp file beside the target, are fsynced, then renamed.

Every file gankit writes (checkpoints, config, run.json, reports, plots, samples, exports, statistics, imports) is
built in memory and handed to `write_atomic`, so a kill or a full disk leaves the old file or the new one at the
final path, never a part, and a failed write raises an OSError naming the final path (the CLI turns it into one
line). A kill can still leave the temp file: it is named `.NAME.PID.gankit-tmp`, and the next write into the same
folder (by any process) removes the temps of processes that no longer exist.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
from pathlib import Path
from contextlib import contextmanager
from typing import Any, BinaryIO, Callable, Iterator

TEMP_SUFFIX = ".gankit-tmp"
_SWEPT: set[str] = set()  # folders whose stale temps this process has removed


def temp_path(path: Path) -> Path:
    """The temp name write_atomic uses for `path` in this process (hidden, with the pid, so stale ones are found)."""
    return path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep_temps(folder: Path) -> list[Path]:
    """Remove the temps (files or folders) in `folder` whose writing process no longer exists; returns them."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for p in entries:
        parts = p.name[:-len(TEMP_SUFFIX)].rsplit(".", 1) if p.name.endswith(TEMP_SUFFIX) else []
        if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) != os.getpid() and not _alive(int(parts[1])):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _named(e: OSError, path: Path) -> OSError:
    """The same error, naming the final path (not the temp) so the user's message points at the right file."""
    return type(e)(e.errno, e.strerror or str(e), str(path)) if e.errno else OSError(f"{path}: {e}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader (or a kill, or a full disk) sees the old file or the new one, never a part.

    $GANKIT_FAULT=kill_in_write:NAME SIGKILLs the process after half of NAME's bytes reached its temp (tests prove
    that nothing torn reaches the final path and that the next write sweeps the temp away)."""
    path = Path(path)
    folder = str(path.parent.resolve())
    if folder not in _SWEPT:
        _SWEPT.add(folder)
        sweep_temps(path.parent)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            if f"kill_in_write:{path.name}" in os.environ.get("GANKIT_FAULT", "").split(","):
                f.write(data[:len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
                os.kill(os.getpid(), signal.SIGKILL)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise _named(e, path) from None
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def new_folder(out: Path) -> Iterator[Path]:
    """A folder to fill, built beside `out` under a temp name and renamed onto it (missing or empty) when the block
    ends; removed on any failure, so a full disk or a kill never leaves a partial `out` (a killed build is swept)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep_temps(out.parent)
    build = temp_path(out)
    try:
        build.mkdir()
        yield build
        os.replace(build, out)
    except OSError as e:
        raise _named(e, out) from None
    finally:
        shutil.rmtree(build, ignore_errors=True)


def encode(write: Callable[[BinaryIO], Any]) -> bytes:
    """The bytes a writer that wants a file object produces (PIL's save, savefig, np.savez, torch.jit.save...)."""
    buf = io.BytesIO()
    write(buf)
    return buf.getvalue()


def write_json(path: Path, obj: Any) -> None:
    """`obj` as indented JSON, written atomically."""
    write_atomic(path, (json.dumps(obj, indent=2) + "\n").encode())


def read_json_object(path: Path) -> dict:
    """The JSON object in `path`. ValueError with a one-line reason where the file holds something else (bytes that
    are not UTF-8, text that is not JSON, or a JSON list or number); OSError where it cannot be read."""
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        raise ValueError(str(e).splitlines()[0][:200] if str(e) else type(e).__name__) from None
    if not isinstance(d, dict):
        raise ValueError(f"a JSON {type(d).__name__}, not an object")
    return d


def write_png(path: Path, image: Any, optimize: bool = False) -> None:
    """A PIL image as PNG, written atomically."""
    write_atomic(path, encode(lambda f: image.save(f, format="PNG", optimize=optimize)))


def write_figure(path: Path, fig: Any, dpi: int = 100) -> None:
    """A matplotlib figure as PNG, written atomically."""
    write_atomic(path, encode(lambda f: fig.savefig(f, format="png", dpi=dpi)))
