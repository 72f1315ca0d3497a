"""The `gankit` command line: train, generate, eval, truncation, experiment, plot, report, import, export, phema, presets,
describe. This module runs a verb and turns every error into one line; the verbs are in commands.py and evaluation.py,
their grammar in parser.py."""
from __future__ import annotations

import errno
import sys
import warnings

from ..errors import GankitError
from .commands import cmd_train
from .parser import build_parser


_WAYS_OUT = {errno.ENOSPC: "free space on that disk", errno.EDQUOT: "free space within your quota",
             errno.EROFS: "the folder is read-only: choose a writable one", errno.EACCES: "fix its permissions or "
             "choose another path", errno.EPERM: "fix its permissions or choose another path",
             errno.ENOENT: "check the path", errno.ENOTDIR: "a part of the path is a file: check the path",
             errno.EISDIR: "it is a folder: name a file", errno.ENAMETOOLONG: "shorten the path",
             errno.EEXIST: "a file is in the way where a folder is needed: choose another path"}


MAX_LINE = 1000  # characters of a message; a 20 MB config value is not echoed whole


def one_line(message: str) -> str:
    """A message as one line of at most about MAX_LINE characters (a long middle, e.g. an echoed value, elided)."""
    text = " ".join(part.strip() for part in message.splitlines() if part.strip())
    if len(text) <= MAX_LINE:
        return text
    cut = len(text) - MAX_LINE
    return f"{text[:MAX_LINE * 2 // 3]} [... {cut:,} characters left out ...] {text[-MAX_LINE // 3:]}"


def os_error_line(e: OSError, resumes: bool = False) -> str:
    """One line for an error of the machine (disk, permissions, path): the file, the cause and the way out; `resumes`
    (training) adds that the re-run starts from the last checkpoint."""
    where = f" {e.filename}" if e.filename else ""
    way = _WAYS_OUT.get(e.errno or -1, "fix the disk or permissions")
    return (f"cannot access{where} ({e.strerror or e}); {way}, then re-run the same command"
            + (" (a run resumes from its last checkpoint)" if resumes else ""))


def _one_line_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"gankit: warning: {one_line(str(message))}\n"


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning  # e.g. "skipped 3 images that failed to decode"
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # anywhere on the line: errors then show their traceback
    args = build_parser().parse_args([a for a in argv if a != "--debug"])
    try:
        return args.fn(args)
    except GankitError as e:
        if debug:
            raise
        print(f"gankit: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `gankit presets | head`
        return 0
    except OSError as e:  # a full disk, a read-only folder, a vanished file: the machine, not gankit
        if debug:
            raise
        print(f"gankit: error: {one_line(os_error_line(e, resumes=args.fn is cmd_train))}; --debug shows the traceback",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The `gankit` console script and `python -m gankit`: main(), then distributed.exit_process (see there)."""
    from ..distributed import exit_process

    exit_process(main())

