"""One process per run directory: a lock file with the holder's pid, host and start time.

A second `gankit train` on the same --out refuses in one line; a lock left by a process that no longer runs
(SIGKILL, power loss) is taken over with a warning. Liveness is checked on the same host only: the pid must exist
and, where /proc tells, have started when the lock says (so a reused pid does not keep a dead run locked).
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Callable, Optional

from .errors import GankitError

LOCK_NAME = ".gankit-lock"


def _start_time(pid: int) -> Optional[str]:
    """The process's start time in clock ticks since boot (Linux /proc), or None where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name in parentheses


def _alive(pid: int, start: Optional[str]) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    now = _start_time(pid)
    return start is None or now is None or now == start


class RunLock:
    """The lock of run directory `out`; acquire() before the first write, release() when the run ends."""

    def __init__(self, out: Path, warn: Callable[[str], None] = print) -> None:
        self.path, self.warn, self.held = Path(out) / LOCK_NAME, warn, False

    def acquire(self) -> None:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "start": _start_time(os.getpid()),
              "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(json.dumps(me))
            except OSError as e:  # a full disk: no half-written lock left behind, and the error names the file
                self.path.unlink(missing_ok=True)
                raise OSError(e.errno, e.strerror, str(self.path)) from None
            self.held = True
            return
        raise GankitError(f"could not lock {self.path.parent}: {self.path} keeps reappearing; is another gankit starting there?")

    def _take_over_if_stale(self) -> None:
        try:
            holder = json.loads(self.path.read_text())
            pid, host = int(holder["pid"]), str(holder["host"])
        except (OSError, ValueError, KeyError, TypeError):  # empty or torn: its writer died mid-write
            holder, pid, host = {}, -1, socket.gethostname()
        if host != socket.gethostname():
            raise GankitError(f"--out {self.path.parent} is in use by pid {pid} on host {host} since {holder.get('since')}; "
                              f"use another --out, or delete {self.path} if that process is gone")
        if pid > 0 and _alive(pid, holder.get("start")):
            raise GankitError(f"--out {self.path.parent} is in use by pid {pid} (running since {holder.get('since')}); "
                              "wait for it to finish or use another --out")
        self.warn(f"gankit: warning: took over the lock of {self.path.parent} from pid {pid}, which is no longer running")
        self.path.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
