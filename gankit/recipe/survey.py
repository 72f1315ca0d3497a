"""What a folder of images holds, read from file headers only: the count, classes, sizes and colour modes.

The recipe (recipe.plan) sizes a run from this survey before anything is decoded; training then reads the
images as the folder dataset always does (data/folder.py: RGB, centre-cropped, LANCZOS-resized).
"""
from __future__ import annotations

import io
import statistics
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..errors import GankitError
from ..data.folder import EXTENSIONS, _select, _Source

HEADERS = 512  # images whose headers are read (evenly spaced): enough for the median side, cheap on 1M files
SPLITS = ("train", "test", "val", "valid", "validation")  # top-level folder names read as dataset splits, not classes


@dataclass
class Survey:
    """A folder's images as the recipe sees them."""

    path: str
    subdir: str
    count: int  # image files (by extension)
    skipped: int  # files that are not images, left out
    classes: list[str] = field(default_factory=list)  # class sub-folders, sorted (empty: unlabelled)
    short_side: int = 0  # median of min(width, height) over the headers read
    sides: tuple[int, int] = (0, 0)  # smallest and largest short side seen
    modes: dict[str, int] = field(default_factory=dict)  # PIL colour modes seen, e.g. {"RGB": 500, "L": 12}
    headers: int = 0  # headers read (the rest were not opened)
    unreadable: int = 0  # of those, files whose header does not parse
    splits: list[str] = field(default_factory=list)  # split folders found at the top (the recipe trains on "train")

    def to_dict(self) -> dict:
        return {"path": self.path, "subdir": self.subdir, "count": self.count, "skipped": self.skipped,
                "classes": self.classes, "short_side": self.short_side, "sides": list(self.sides),
                "modes": self.modes, "headers": self.headers, "unreadable": self.unreadable, "splits": self.splits}


def _top_folders(rel: list[str]) -> list[str]:
    """The first-level folders of relative names, sorted; [] where any image sits at the top (no class folders)."""
    return sorted({r.split("/", 1)[0] for r in rel}) if all("/" in r for r in rel) else []


def survey(path: str, subdir: str = "") -> Survey:
    """Count and classify the images under `path` (a folder or archive, optionally its sub-folder `subdir`)."""
    root, sub = Path(path).expanduser(), subdir
    if not root.exists():
        raise GankitError(f"data path {root} does not exist; pass --data pointing at an image folder or archive")
    if sub and root.is_dir():  # as the folder dataset: walk only the chosen sub-folder
        if not (root / sub).is_dir():
            raise GankitError(f"{root} has no sub-folder '{sub}'; fix data.subdir or leave it empty")
        root, sub = root / sub, ""
    with warnings.catch_warnings():  # the survey reports what it skipped itself, in one line
        warnings.simplefilter("ignore")
        src = _Source(root)
    names, rel = _select(src, sub)
    where = f"{root}{'/' + sub if sub else ''}"
    if not names:
        mnist = any("ubyte" in n for n in src.names_all)
        hint = ("it holds MNIST's files: train them with --preset r3gan-stackedmnist-cpu (or another MNIST preset)"
                if mnist else "point --data at a folder of images")
        raise GankitError(f"no images found in {where} (looked for {', '.join(EXTENSIONS)}; {src.skipped} other files "
                          f"skipped); {hint}")
    classes = _top_folders(rel)
    splits = []
    if not subdir and "train" in classes and set(classes) <= set(SPLITS):  # train/ test/ (each with class folders)
        splits, subdir = classes, "train"  # held-out splits stay out of training, and out of FID's reference
        names, rel = _select(src, subdir)  # the same listing, narrowed: nothing is walked or read twice
        classes = _top_folders(rel)
    step = max(1, len(names) // HEADERS)
    sides, modes, unreadable = [], Counter(), 0
    for name in names[::step][:HEADERS]:
        try:
            with Image.open(io.BytesIO(src.read(name))) as im:
                sides.append(min(im.size))
                modes[im.mode] += 1
        except Exception:  # PIL raises many types for broken files; training skips them too
            unreadable += 1
    if not sides:
        raise GankitError(f"none of the {unreadable} image headers read in {where} parses; check the files")
    return Survey(str(Path(path).expanduser()), subdir, len(names), src.skipped, classes, int(statistics.median(sides)),
                  (min(sides), max(sides)), dict(modes.most_common()), len(sides) + unreadable, unreadable, splits)
