"""PNG/JPEG/WebP/BMP/TIFF/GIF images from a directory tree or a .tar/.tar.gz/.tgz/.zip archive (e.g. CIFAR-10, FFHQ).

Layout: labels come from the immediate sub-folders of the root (after data.subdir), sorted; when
some image lies directly in the root the set is unlabelled (num_classes 0, labels 0). In an
archive whose images all sit under one top-level folder, that folder is taken as the root.
Images are converted to RGB (16-bit ones scaled to 8 bits, GIFs by their first frame), centre-cropped to a square and resized to data.resolution with PIL's
LANCZOS filter (large JPEGs are first DCT-downscaled by PIL's draft mode, never below the target).
Storage (data.in_memory): "yes" decodes everything once into one uint8 tensor; "no" keeps only
the encoded bytes (tar archives) or the file names (folders, zip) and decodes in get(); "auto" is
"yes" when N*3*R*R bytes <= 2 GiB.
Bad files: in-memory sets decode everything at construction and skip failures; streamed sets only
parse each header at construction (cheap) and skip failures there; an image whose pixel data is
broken past a valid header is found in get(), warned about once and replaced by the next good one.
Folders are walked following symlinks; a folder or file reached twice (a link loop, a second link to the same
place) is read once, with a warning. Files of other types and class folders without images are warned about.
"""
from __future__ import annotations

import io
import os
import stat
import tarfile
import threading
import warnings
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from PIL import Image

from ..errors import GankitError
from .base import DATASETS, DataConfig, Dataset

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
DOCUMENTS = (".md", ".txt", ".rst", ".json", ".jsonl", ".csv", ".tsv", ".yaml", ".yml", ".toml", ".html", ".htm",
             ".pdf", ".py", ".sh", ".ipynb", ".db", ".log", ".lst")  # a dataset's notes and lists: not warned about
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # PIL's modes for 16-bit greyscale (PNG, TIFF)
ARCHIVES = (".tar", ".tar.gz", ".tgz", ".zip")
AUTO_LIMIT = 2 << 30  # bytes of decoded images held in memory under in_memory="auto"
HELD_OUT_SPLITS = ("test", "val", "valid", "validation")  # siblings of data.subdir that may hold unseen images, in order


def decode(data: bytes, resolution: int, header_only: bool = False) -> np.ndarray | None:
    """Encoded image bytes -> uint8 [3, R, R]: RGB, centre-cropped square, LANCZOS-resized."""
    with Image.open(io.BytesIO(data)) as im:
        if header_only:
            return None
        im.draft("RGB", (resolution, resolution))  # JPEG only: DCT scaling, keeps sides >= R
        if im.mode in SIXTEEN_BIT:  # convert() would clip 0..65535 at 255: scale v -> round(v * 255 / 65535)
            a = np.asarray(im).astype(np.int64)
            im = Image.fromarray(((a.clip(0, 65535) * 255 + 32767) // 65535).astype(np.uint8), "L")
        im = im.convert("RGB")
    w, h = im.size
    s = min(w, h)
    if w != h:
        left, top = (w - s) // 2, (h - s) // 2
        im = im.crop((left, top, left + s, top + s))
    if s != resolution:
        im = im.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(im).transpose(2, 0, 1)


def _hidden(name: str) -> bool:
    """Hidden files and macOS `__MACOSX/`, `._x` leftovers."""
    return any(p.startswith(".") or p == "__MACOSX" for p in name.removeprefix("./").split("/"))


def _is_image(name: str) -> bool:
    """An image member by extension, not hidden."""
    return name.lower().endswith(EXTENSIONS) and not _hidden(name)


def _walk(root: Path) -> list[str]:
    """Regular files under root (relative, posix), following symlinks; a folder or file reached twice is taken once.
    FIFOs, sockets and devices are skipped with a warning: opening a FIFO named like an image would block forever."""
    seen_dirs, seen_files, names, twice, special = {os.path.realpath(root)}, set(), [], [], []
    for d, dirs, files in os.walk(root, followlinks=True):
        for sub in sorted(dirs):
            real = os.path.realpath(os.path.join(d, sub))
            if real in seen_dirs:  # a link loop or a second link to a folder already walked
                dirs.remove(sub)
                twice.append(os.path.join(d, sub))
            else:
                seen_dirs.add(real)
        dirs.sort()
        for f in sorted(files):
            real = os.path.realpath(os.path.join(d, f))
            if real in seen_files:
                twice.append(os.path.join(d, f))
                continue
            seen_files.add(real)
            try:
                regular = stat.S_ISREG(os.stat(real).st_mode)  # stat never opens: safe on a FIFO
            except OSError:  # a dangling link: kept, so that reading it names the file
                regular = True
            if not regular:
                special.append(os.path.join(d, f))
                continue
            names.append(Path(d, f).relative_to(root).as_posix())
    if special:
        warnings.warn(f"{len(special)} entries under {root} are not regular files (FIFOs, sockets or devices; first: "
                      f"{special[0]}): skipped", stacklevel=4)
    if twice:
        warnings.warn(f"{len(twice)} folders or files under {root} are links to places already read (first: "
                      f"{twice[0]}); each image is used once", stacklevel=4)
    return names


class _Members:
    """An archive's member names as read, and what was left out of them: said in one warning, never silently."""

    def __init__(self, path: Path) -> None:
        self.path, self.names, self.seen = path, [], set()
        self.links, self.outside, self.twice, self.truncated = [], [], [], False

    def take(self, name: str, link: bool) -> bool:
        """Whether member `name` is read: not a link, not outside the archive (absolute or ..), not a repeat."""
        clean = name.removeprefix("./")
        if link:
            self.links.append(name)
        elif clean.startswith("/") or ".." in clean.split("/"):
            self.outside.append(name)
        elif clean in self.seen:
            self.twice.append(name)
        else:
            self.seen.add(clean)
            self.names.append(clean)
            return True
        return False

    def report(self) -> list[str]:
        """The names read, after one warning for whatever was left out."""
        left = [f"{len(v)} {what} (first: {v[0]})" for v, what in (
            (self.links, "link members"), (self.outside, "members named outside the archive (absolute or ../)"),
            (self.twice, "repeated member names (the first copy of each is read)")) if v]
        if left:
            warnings.warn(f"{self.path}: skipped {'; '.join(left)}", stacklevel=4)
        if self.truncated:
            warnings.warn(f"{self.path} ends without tar's end blocks after {len(self.names)} members: it looks "
                          "truncated (an interrupted download or copy?); only those members are read; check it "
                          "against its source", stacklevel=4)
        return self.names


class _Source:
    """The image members of a folder or an archive: sorted relative names and a byte reader."""

    def __init__(self, path: Path) -> None:
        self.path, self.blobs, self.sizes, self._zip, self._lock = path, {}, {}, None, threading.Lock()
        self.infos: dict[str, zipfile.ZipInfo] = {}
        low = path.name.lower()
        if path.is_dir():
            self.kind = "folder"
            names = _walk(path)
        elif low.endswith(".zip"):
            self.kind = "zip"
            try:
                with zipfile.ZipFile(path) as z:
                    members = _Members(path)
                    for info in z.infolist():
                        link = stat.S_ISLNK(info.external_attr >> 16)
                        if not info.is_dir() and members.take(info.filename, link):
                            self.infos[members.names[-1]] = info  # the first copy of a duplicated name
                    names = members.report()
            except (OSError, zipfile.BadZipFile) as e:
                raise GankitError(f"cannot read zip archive {path} ({e}); check the file") from None
        elif low.endswith(ARCHIVES):
            self.kind = "tar"  # compressed tars cannot seek: keep the (small) encoded bytes
            try:
                with tarfile.open(path) as t:
                    members = _Members(path)
                    for m in t:
                        if (m.isfile() or m.issym() or m.islnk()) and members.take(m.name, not m.isfile()):
                            if _is_image(m.name):
                                self.blobs[members.names[-1]] = t.extractfile(m).read()
                                self.sizes[members.names[-1]] = m.size
                    t.fileobj.seek(t.offset)  # tar ends with zero blocks: without them the file was cut off there
                    members.truncated = len(t.fileobj.read(512)) < 512
                    names = members.report()
            except (OSError, EOFError, tarfile.TarError) as e:
                raise GankitError(f"cannot read tar archive {path} ({e}); check the file") from None
        else:
            raise GankitError(f"data.path {path} is neither a folder nor a {'/'.join(ARCHIVES)} "
                              "archive; point --data at an image folder or archive")
        other = Counter(e or "(no extension)" for n in names if not _is_image(n) and not _hidden(n)
                        and (e := os.path.splitext(n)[1].lower()) not in DOCUMENTS)
        self.skipped = sum(1 for n in names if not _is_image(n) and not _hidden(n))  # notes and lists included
        self.names_all = names
        if other:  # never skipped silently: say what was left out
            kinds = ", ".join(f"{e} x{c}" for e, c in other.most_common(5))
            warnings.warn(f"ignored {sum(other.values())} files in {path} that are not images gankit reads ({kinds}); "
                          f"it reads {', '.join(EXTENSIONS)}: convert the others to use them", stacklevel=3)
        self.names = sorted(n for n in names if _is_image(n))

    def size(self, name: str) -> int:
        """The byte size of member `name` (without reading it)."""
        if self.kind == "tar":
            return self.sizes[name]
        if self.kind == "folder":
            return (self.path / name).stat().st_size
        return self.infos[name].file_size

    def read(self, name: str) -> bytes:
        if self.kind == "tar":
            return self.blobs[name]
        if self.kind == "folder":
            return (self.path / name).read_bytes()
        with self._lock:
            return self._zipfile().read(self.infos[name])

    def _zipfile(self) -> zipfile.ZipFile:
        """The archive, opened once per process on first use (callers hold the lock)."""
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_zip": None, "_lock": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())


def _select(src: _Source, subdir: str) -> tuple[list[str], list[str]]:
    """(member names, their names relative to the root) after the wrapper folder and subdir."""
    names, prefix, sub = src.names, "", subdir.strip("/")
    if not names:
        return [], []
    tops = {n.split("/", 1)[0] for n in names}
    if (src.kind != "folder" and len(tops) == 1 and all("/" in n for n in names)
            and not (sub and any(n.startswith(sub + "/") for n in names))):
        prefix = tops.pop() + "/"
    if sub:
        found = sorted({n[len(prefix):].split("/", 1)[0] for n in names
                        if n.startswith(prefix) and "/" in n[len(prefix):]})
        prefix += sub + "/"
        if not any(n.startswith(prefix) for n in names):
            raise GankitError(f"{src.path} has no images under sub-folder '{sub}'; set data.subdir "
                              f"to one of: {', '.join(found[:20]) or '(none)'} or leave it empty")
    keep = [n for n in names if n.startswith(prefix)]
    return keep, [n[len(prefix):] for n in keep]


def _parallel(fn: Callable[[int], object], n: int) -> list:
    """[fn(0), ..., fn(n-1)] on a thread pool (PIL decodes and resizes without the GIL)."""
    chunks = [range(i, min(i + 512, n)) for i in range(0, n, 512)]
    with ThreadPoolExecutor(min(32, (os.cpu_count() or 1) + 4)) as pool:
        parts = pool.map(lambda r: [fn(i) for i in r], chunks)
        return [v for part in parts for v in part]


class ImageFolder(Dataset):
    """Images of a folder tree or archive, held decoded in memory or decoded on demand."""

    def __init__(self, path: str, subdir: str, resolution: int, in_memory: str) -> None:
        if not path:
            raise GankitError("the folder dataset needs data.path; pass --data pointing at an image "
                              "folder or a .tar/.tar.gz/.tgz/.zip archive")
        root = Path(path).expanduser()
        if not root.exists():
            raise GankitError(f"data path {root} does not exist; pass --data pointing at an image "
                              "folder or archive")
        if resolution < 4 or resolution & (resolution - 1):
            raise GankitError(f"data.resolution must be a power of two >= 4 (e.g. 32, 64, 256), "
                              f"got {resolution}")
        if in_memory not in ("auto", "yes", "no"):
            raise GankitError(f"data.in_memory '{in_memory}' is unknown; use auto, yes or no")
        self.origin = (path, subdir.strip("/"))  # where held_out looks for a sibling split
        if subdir and root.is_dir():  # walk only the chosen sub-folder
            if not (root / subdir).is_dir():
                raise GankitError(f"{root} has no sub-folder '{subdir}'; fix data.subdir or leave "
                                  "it empty")
            root, subdir = root / subdir, ""
        self.src, self.resolution, self.shape = _Source(root), resolution, (3, resolution, resolution)
        names, rel = _select(self.src, subdir)
        if not names:
            raise GankitError(f"no images found in {root}{'/' + subdir if subdir else ''} (looked "
                              f"for {', '.join(EXTENSIONS)}); point --data at a folder of images")
        self.in_memory = in_memory == "yes" or (
            in_memory == "auto" and len(names) * 3 * resolution**2 <= AUTO_LIMIT)

        n, res = len(names), resolution
        arr = np.empty((n, 3, res, res), np.uint8) if self.in_memory else None

        def check(i: int) -> bool:
            try:
                out = decode(self.src.read(names[i]), res, header_only=arr is None)
            except Exception:  # PIL raises many types for broken files; all mean "skip it"
                return False
            if arr is not None:
                arr[i] = out
            return True

        good = _parallel(check, n)
        ok = [i for i in range(n) if good[i]]
        if len(ok) < n:
            bad = [names[i] for i in range(n) if not good[i]]
            if not ok:
                raise GankitError(f"none of the {n} images in {root} could be decoded "
                                  f"(first: {bad[0]}); check the files")
            warnings.warn(f"skipped {len(bad)} of {n} images in {root} that failed to "
                          f"decode (first: {bad[0]})", stacklevel=3)
        self.names = [names[i] for i in ok]
        classes = sorted({r.split("/", 1)[0] for r in rel}) if all("/" in r for r in rel) else []
        if classes and self.src.kind == "folder":
            empty = sorted(d.name for d in root.iterdir() if d.is_dir() and not _hidden(d.name)
                           and d.name not in classes)
            if empty:
                warnings.warn(f"class folders without images in {root} are not classes: {', '.join(empty[:10])}; "
                              f"the data has {len(classes)} classes", stacklevel=3)
        index = {c: k for k, c in enumerate(classes)}
        self.classes, self.num_classes = classes, len(classes)
        self.labels = torch.tensor([index[rel[i].split("/", 1)[0]] if classes else 0 for i in ok],
                                   dtype=torch.int64)
        self.images = None
        if arr is not None:
            self.images = torch.from_numpy(arr if len(ok) == n else arr[ok])
            self.src.blobs = {}  # decoded: the encoded bytes are no longer needed
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.names)

    def _decode(self, i: int) -> np.ndarray:
        """Item i decoded; a broken one is warned about once and replaced by the next good item."""
        for j in (k % len(self.names) for k in range(i, i + len(self.names))):
            if j not in self._bad:
                try:
                    return decode(self.src.read(self.names[j]), self.resolution)
                except Exception:
                    self._bad.add(j)
                    warnings.warn(f"image {self.names[j]} in {self.src.path} failed to decode; "
                                  "using the next image in its place", stacklevel=3)
        raise GankitError(f"no image in {self.src.path} can be decoded; check the files")

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images uint8 [B, 3, R, R] and labels int64 [B] (0 for unlabelled sets)."""
        if self.images is not None:
            return self.images[idx], self.labels[idx]
        ids = idx.reshape(-1).tolist()
        x = np.stack([self._decode(i) for i in ids]) if ids else np.zeros((0, *self.shape), np.uint8)
        return torch.from_numpy(x).reshape(*idx.shape, *self.shape), self.labels[idx]

    def labels_at(self, idx: torch.Tensor) -> torch.Tensor:
        return self.labels[idx]

    def held_out_split(self) -> Optional["ImageFolder"]:
        """The first of test/, val/, valid/, validation/ beside data.subdir (CIFAR-10's train/ -> test/) holding the same
        classes, streamed; None where data.subdir is empty or nested, or no sibling matches."""
        path, subdir = self.origin
        if not subdir or "/" in subdir:
            return None
        for name in HELD_OUT_SPLITS:
            if name == subdir:
                continue
            try:
                with warnings.catch_warnings():  # a sibling's skipped files are the sibling's business
                    warnings.simplefilter("ignore")
                    other = ImageFolder(path, name, self.resolution, "no")
            except GankitError:  # no such split
                continue
            if other.classes == self.classes:
                return other
        return None

    def held_out(self, n: int, seed: int) -> Optional[tuple[torch.Tensor, torch.Tensor]]:
        """n images (fewer if the split has fewer) of held_out_split(), drawn with `seed`, and their labels: photographs
        of the same classes that training never shows D."""
        other = self.held_out_split()
        if other is None:
            return None
        idx = torch.randperm(len(other), generator=torch.Generator().manual_seed(seed))[:n]
        return other.get(idx)

    def content(self) -> Iterator[bytes]:
        """In memory: every decoded image. Streamed (too large to read at each start): every file's name and
        size, and 16 evenly spaced decoded images."""
        if self.images is not None:
            yield from super().content()
            return
        # surrogateescape: a file name that is not UTF-8 (os gives its bytes as surrogates) hashes as its own bytes
        yield "\n".join(f"{n}:{self.src.size(n)}" for n in self.names).encode(errors="surrogateescape")
        idx = torch.linspace(0, len(self) - 1, min(len(self), 16)).round().long()
        yield self.get(idx)[0].numpy().tobytes()
        yield self.labels.numpy().tobytes()

    def describe(self) -> dict:
        return {**super().describe(), "name": "folder", "path": str(self.src.path),
                "in_memory": self.in_memory, "classes": self.classes}


@DATASETS.register("folder", reads_path=True)
def folder(cfg: DataConfig) -> Dataset:
    """Images from a folder tree or archive at data.path (sub-folder data.subdir), RGB at R x R."""
    return ImageFolder(cfg.path, cfg.subdir, cfg.resolution, cfg.in_memory)
