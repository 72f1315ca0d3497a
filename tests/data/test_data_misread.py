"""Data that used to be ignored or misread (issue 15, part 8): --data given to a set that reads no files, symlink
loops, 16-bit PNGs, WebP/BMP/TIFF/GIF, files of other types, empty class folders, --out inside --data, and a
resume on data other than the run started on."""
from __future__ import annotations

import hashlib
import os
import struct
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.data import DataConfig, build_dataset
from gankit.data.folder import decode
from gankit.errors import GankitError
from gankit.lab.experiment import Cell, _extra_for


def folder(path: Path, **kw) -> object:
    return build_dataset(DataConfig(name="folder", path=str(path), **kw))


def solid(path: Path, color: tuple[int, int, int], size: int = 8, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), color).save(path, fmt)


def test_data_path_given_to_a_set_that_reads_no_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GankitError, match=r"dataset 'stacked-digits' reads no files.*data.name=folder"):
        build_dataset(DataConfig(name="stacked-digits", path=str(tmp_path)))
    build_dataset(DataConfig(name="ring8"))  # no path: fine
    # a study-wide --set data.path reaches only the cells whose dataset reads files
    digits = Cell("d", "m", {}, 0, "r3gan-tiny", {})
    mnist = Cell("m", "m", {}, 0, "r3gan-stackedmnist-cpu", {})
    assert _extra_for(digits, {"data.path": "/x", "train.kimg": 1}) == {"train.kimg": 1}
    assert _extra_for(mnist, {"data.path": "/x"}) == {"data.path": "/x"}


def test_symlink_loops_neither_hang_nor_duplicate(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    solid(root / "a" / "1.png", (10, 0, 0))
    solid(root / "b" / "2.png", (0, 10, 0))
    os.symlink("..", root / "a" / "up")  # a loop back to the root
    os.symlink(root / "a", root / "b" / "again")  # a second way into a/
    os.symlink(root / "b" / "2.png", root / "b" / "2-link.png")  # a second name of the same file
    box: dict = {}

    def build() -> None:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            box["ds"] = folder(root, resolution=8)
        box["warnings"] = [str(x.message) for x in w]

    th = threading.Thread(target=build, daemon=True)
    th.start()
    th.join(60)
    assert not th.is_alive(), "walking a symlink loop hung"
    ds = box["ds"]
    assert len(ds) == 2 and ds.classes == ["a", "b"], (len(ds), ds.names)
    assert any("links to places already read" in m for m in box["warnings"]), box["warnings"]


def test_a_fifo_named_like_an_image_is_skipped_not_opened(tmp_path: Path) -> None:
    """A FIFO called 00.png used to block train --data and eval --images forever (opening it waits for a writer).
    The walk stats every entry and skips what is not a regular file, with a warning; the recipe's survey too."""
    from gankit.recipe import survey

    root = tmp_path / "imgs"
    for i in (1, 2):
        solid(root / "a" / f"{i}.png", (10 * i, 0, 0))
    os.mkfifo(root / "a" / "00.png")
    box: dict = {}

    def build() -> None:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            box["ds"] = folder(root, resolution=8)
            box["survey"] = survey(str(root))
        box["warnings"] = [str(x.message) for x in w]

    th = threading.Thread(target=build, daemon=True)
    th.start()
    th.join(60)
    assert not th.is_alive(), "a FIFO in the folder hung the read"
    assert len(box["ds"]) == 2 and box["survey"].count == 2
    assert any("not regular files" in m and "00.png" in m for m in box["warnings"]), box["warnings"]


def png16(arr: np.ndarray) -> bytes:
    """A 16-bit PNG (greyscale [H, W] or RGB [H, W, 3]) written byte by byte, so no library rescales it."""
    h, w = arr.shape[:2]
    colour = 2 if arr.ndim == 3 else 0
    rows = b"".join(b"\x00" + arr[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("value", [0, 257, 32768, 40000, 65535])
def test_sixteen_bit_pngs_are_scaled_not_clipped(value: int) -> None:
    want = round(value * 255 / 65535)
    grey = decode(png16(np.full((8, 8), value, np.uint16)), 8)
    assert grey.shape == (3, 8, 8) and (grey == want).all(), (grey[0, 0, 0], want)
    rgb = decode(png16(np.full((8, 8, 3), value, np.uint16)), 8)
    assert abs(int(rgb[0, 0, 0]) - want) <= 1, (rgb[0, 0, 0], want)  # PIL keeps the high byte of 16-bit RGB


def test_webp_bmp_tiff_gif_load_and_other_files_are_named(tmp_path: Path) -> None:
    colors = {"a.webp": (255, 0, 0), "b.bmp": (0, 255, 0), "c.tiff": (0, 0, 255), "d.gif": (255, 255, 0),
              "e.tif": (0, 255, 255)}
    for name, c in colors.items():
        kw = {"lossless": True} if name.endswith(".webp") else {}
        Image.new("RGB", (8, 8), c).save(tmp_path / name, **kw)
    (tmp_path / "f.heic").write_bytes(b"not read")
    (tmp_path / "notes.txt").write_text("a dataset's notes are not warned about")
    with pytest.warns(UserWarning, match=r"ignored 1 files .*\.heic x1") as w:
        ds = folder(tmp_path, resolution=8)
    assert not any(".txt" in str(x.message) for x in w)
    assert len(ds) == len(colors)
    x, _ = ds.get(np.arange(len(ds)))
    got = {n: tuple(int(v) for v in x[i, :, 0, 0]) for i, n in enumerate(ds.names)}
    assert got == colors, got


def test_an_empty_class_folder_is_warned_about(tmp_path: Path) -> None:
    solid(tmp_path / "cat" / "1.png", (1, 2, 3))
    solid(tmp_path / "dog" / "2.png", (4, 5, 6))
    (tmp_path / "bird").mkdir()
    with pytest.warns(UserWarning, match=r"class folders without images .*: bird; the data has 2 classes"):
        ds = folder(tmp_path, resolution=8)
    assert ds.num_classes == 2


TINY = ["train", "--preset", "r3gan-tiny", "--set", "train.metrics=none", "--set", "train.tensorboard=false",
        "--set", "data.name=folder", "--set", "data.resolution=8"]


def test_out_inside_data_is_refused(tmp_path: Path, capsys) -> None:
    for i in range(4):
        solid(tmp_path / "data" / f"{i}.png", (i, i, i))
    out = tmp_path / "data" / "run"
    assert main([*TINY, "--data", str(tmp_path / "data"), "--out", str(out)]) == 2
    assert "lies inside --data" in capsys.readouterr().err
    assert not out.exists()


def snapshot(run: Path) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.rglob("*")) if p.is_file()}


def test_a_resume_on_other_data_is_refused_with_both_descriptions(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    for i in range(40):
        solid(data / f"{i:02d}.png", (6 * i, 255 - 6 * i, 3 * i))
    run = tmp_path / "run"
    args = [*TINY, "--data", str(data), "--out", str(run)]
    assert main([*args, "--kimg", "0.032"]) == 0
    before = snapshot(run)
    solid(data / "20.png", (1, 2, 3))  # same count and shape, other content
    capsys.readouterr()
    assert main([*args, "--kimg", "0.064"]) == 2
    err = capsys.readouterr().err
    assert "trained on other data" in err and err.count("fingerprint") == 2 and "40 items" in err, err
    assert snapshot(run) == before  # nothing written
    (data / "39.png").unlink()  # the count differs too
    assert main([*args, "--kimg", "0.064"]) == 2
    assert "40 items" in capsys.readouterr().err and snapshot(run) == before
    solid(data / "20.png", (120, 135, 60))  # the original data again: the run resumes
    solid(data / "39.png", (234, 21, 117))
    assert main([*args, "--kimg", "0.064"]) == 0
    assert "resuming" in capsys.readouterr().out


def _png(color: int) -> bytes:
    import io

    b = io.BytesIO()
    Image.new("RGB", (8, 8), (color, color, color)).save(b, format="PNG")
    return b.getvalue()


def _tar(path: Path, members: list[tuple[str, bytes | str]]) -> None:
    """A tar of (name, bytes) files and (name, "->target") symlinks."""
    import io
    import tarfile

    with tarfile.open(path, "w") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data[2:]
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))


def test_a_tar_cut_off_between_members_is_reported(tmp_path: Path) -> None:
    """Cut exactly after the 5th member's data (a header boundary), tarfile ends the listing quietly with 5 of 8
    images; the missing end blocks give it away."""
    whole = tmp_path / "whole.tar"
    _tar(whole, [(f"{i}.png", _png(30 * i)) for i in range(8)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the whole archive: no warning at all
        assert len(folder(whole, resolution=8)) == 8
    import tarfile

    with tarfile.open(whole) as t:
        m = t.getmembers()[5]  # the 6th member's header starts where the 5th member's data (padded) ends
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[:m.offset])
    with pytest.warns(UserWarning, match=r"cut.tar ends without tar's end blocks after 5 members: it looks truncated"):
        assert len(folder(cut, resolution=8)) == 5


def test_repeated_links_and_escaping_archive_members_are_counted_and_the_first_copy_is_read(tmp_path: Path) -> None:
    import zipfile

    good, bad = _png(200), _png(10)
    t = tmp_path / "a.tar"
    _tar(t, [("a.png", good), ("b.png", good), ("a.png", bad), ("../up.png", good), ("/abs.png", good),
             ("l.png", "->a.png")])
    z = tmp_path / "a.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name itself
        with zipfile.ZipFile(z, "w") as f:
            for name, data in (("a.png", good), ("b.png", good), ("a.png", bad), ("../up.png", good)):
                f.writestr(name, data)
            link = zipfile.ZipInfo("l.png")
            link.external_attr = (0o120777 << 16)  # a symlink member, its target as the data
            f.writestr(link, "a.png")
    for path, outside in ((t, 2), (z, 1)):
        with pytest.warns(UserWarning) as rec:
            ds = folder(path, resolution=8)
        text = " ".join(str(w.message) for w in rec)
        assert "1 link members (first: l.png)" in text, text
        assert f"{outside} members named outside the archive" in text and "1 repeated member names" in text, text
        assert len(ds) == 2  # a.png and b.png
        images, _ = ds.get(torch.tensor([0]))  # names sorted: a.png
        assert int(images.min()) == 200, f"{path.name}: the later copy of a.png was read"


def test_a_file_name_that_is_not_utf8_in_a_streamed_folder(tmp_path: Path) -> None:
    """os gives such a name's bytes as surrogates; the fingerprint of a streamed folder hashes names and used to
    raise UnicodeEncodeError there (a traceback at `train --data`)."""
    for i in range(3):
        solid(tmp_path / f"{i}.png", (60 * i, 0, 0))
    os.rename(tmp_path / "0.png", os.fsdecode(bytes(tmp_path) + b"/caf\xe9.png"))
    ds = folder(tmp_path, resolution=8, in_memory="no")
    assert len(ds) == 3 and ds.describe()["fingerprint"]
