"""Every writing verb onto a real full filesystem and a real read-only one (tmpfs mounts), in real subprocesses: one
line naming the problem, exit 2, no traceback, the earlier file at the final path whole, no temp left behind."""
from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from gankit.files import TEMP_SUFFIX
from test_torn_writes import CASES, gankit, run, temps  # noqa: F401  (the same verbs, files and run fixture)

VERBS = {}  # one case per distinct command: the first file it writes is the one that meets the full disk
for case, argv, target in CASES:
    VERBS.setdefault(" ".join(argv), (case.split(":")[0], argv, target))


def mount(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"no tmpfs can be mounted here ({p.stderr.strip() or 'mount refused'}): needs root and mount rights")


def fill(fs: Path) -> None:
    """Write until the filesystem has no block left."""
    with open(fs / "filler", "wb", buffering=0) as f:  # unbuffered: nothing left to flush at close
        for size in (65536, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass


@pytest.mark.parametrize("kind", ["full", "read-only"])
@pytest.mark.parametrize("verb,argv,target", list(VERBS.values()), ids=[v[0] for v in VERBS.values()])
def test_a_verb_on_a_full_or_read_only_disk_is_one_line_and_tears_nothing(run: Path, tmp_path: Path, kind: str,
                                                                          verb: str, argv: list[str], target: str):
    if "onnx" in argv and importlib.util.find_spec("onnxscript") is None:
        pytest.skip("onnxscript is not installed (pip install 'gankit[export]'): the ONNX export cannot run")
    fs = tmp_path / "fs"
    mount(fs, "size=2m")
    try:
        path = fs / target
        path.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if verb != "train":  # an earlier file at the final path must come through whole
            old = b"an earlier file"
            path.write_bytes(old)
        if kind == "full":
            fill(fs)
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        p = gankit(*[a.format(run=run, tmp=fs) for a in argv])
        err = p.stderr.strip()
        assert p.returncode == 2, f"{verb} on a {kind} disk: rc {p.returncode}\n{err[-2000:]}"
        errors = [x for x in err.splitlines() if x.startswith("gankit: error:")]  # progress lines may come first
        assert "Traceback" not in err and len(errors) == 1 and err.splitlines()[-1] == errors[0], err
        want = "No space left on device" if kind == "full" else "Read-only file system"
        assert want in err and str(fs) in err and TEMP_SUFFIX not in err, err  # names the final path, not a temp
        assert (path.read_bytes() if path.exists() else None) == old, f"{verb}: {path} torn"
        assert not temps(fs), f"{verb}: temps left: {temps(fs)}"
    finally:
        subprocess.run(["umount", str(fs)], capture_output=True)
