"""Statistics files: a reference pass killed part-way resumes from the chunks it saved and gives the statistics an
unbroken pass gives, bitwise; a damaged chunk is recomputed, not trusted."""
import warnings
from dataclasses import replace

import pytest
import torch

import gankit.eval.evaluate as ev
from gankit.eval.evaluate import EvalOptions, reference
from gankit.eval.metrics.extractors import DigitExtractor
from gankit.eval.sources import resolve_source
from gankit.eval.stats import PartialFeatures


def _src():
    return resolve_source("stacked-digits", 300, 1)  # 6 batches of 50


def _partial(folder, every, batch, n, key="part", device="cpu"):
    return PartialFeatures(folder, key, batch=batch, device=device, n=n, every=every)


def test_a_killed_reference_pass_resumes_from_its_saved_chunks_with_the_same_statistics(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ev, "PARTIAL_EVERY", 2)  # a chunk every 2 batches
    opts = EvalOptions(metrics=["fid"], n=300, extractor="digits", batch=50)
    whole = reference(_src(), {"features"}, replace(opts, cache=False))

    calls, real = [], DigitExtractor.features

    def killed_at_the_fifth(self, x):
        calls.append(len(x))
        if len(calls) == 5:
            raise RuntimeError("killed")
        return real(self, x)
    monkeypatch.setattr(DigitExtractor, "features", killed_at_the_fifth)
    with pytest.raises(RuntimeError, match="killed"):
        reference(_src(), {"features"}, opts)
    folders = list((tmp_path / "cache" / "stats").glob("*.partial-b50-cpu"))
    assert len(folders) == 1 and sorted(p.name for p in folders[0].iterdir()) == ["0000000.safetensors", "0000002.safetensors"]

    calls.clear()
    monkeypatch.setattr(DigitExtractor, "features", lambda self, x: calls.append(len(x)) or real(self, x))
    said = []
    c = reference(_src(), {"features"}, replace(opts, progress=said.append))
    lines = [s for s in said if "/300 images" in s]  # after batch 1 (read back) and batch 6, the last (extracted)
    assert lines[0].endswith("50/300 images, read back from the saved chunks") and lines[-1].endswith(" img/s"), said
    assert calls == [50, 50]  # batches 5 and 6 only: the first four came from the two chunks
    assert torch.equal(c.features, whole.features) and c.n == whole.n == 300
    assert torch.equal(c.moments.mean, whole.moments.mean) and torch.equal(c.moments.cov, whole.moments.cov)
    assert not folders[0].exists()  # the chunks go once the statistics are cached
    assert list((tmp_path / "cache" / "stats").glob("*.safetensors"))


def test_a_damaged_chunk_and_the_chunks_after_it_are_recomputed(tmp_path):
    p = _partial(tmp_path, every=2, batch=3, n=18)
    batches = [torch.full((3, 4), float(i)) for i in range(6)]
    for b in batches:
        p.add(b)
    assert [f.tolist() for f in _partial(tmp_path, every=2, batch=3, n=18).load()] == [b.tolist() for b in batches]
    (tmp_path / "part.partial-b3-cpu" / "0000002.safetensors").write_bytes(b"cut short")
    again = _partial(tmp_path, every=2, batch=3, n=18)
    assert [f[0, 0].item() for f in again.load()] == [0.0, 1.0] and again.first == 2  # chunk 4's follow a gap: unused
    again.add(batches[2]), again.add(batches[3])  # rewritten in place
    assert [f[0, 0].item() for f in _partial(tmp_path, every=2, batch=3, n=18).load()] == [0, 1, 2, 3, 4, 5]


def test_chunks_whose_rows_or_width_are_not_the_pass_s_are_recomputed(tmp_path):
    def saved(*shapes):  # one chunk of two batches per pair of shapes, written as add() writes them
        p = _partial(tmp_path, every=2, batch=3, n=11)
        for s in shapes:
            p.add(torch.zeros(s))
    saved((3, 4), (3, 4), (3, 4), (2, 4))  # 11 images in batches of 3: the fourth batch has 2 rows
    assert [len(f) for f in _partial(tmp_path, every=2, batch=3, n=11).load()] == [3, 3, 3, 2]
    saved((3, 4), (3, 4), (3, 4), (3, 4))  # a fourth batch of 3 rows cannot be this pass's
    assert len(_partial(tmp_path, every=2, batch=3, n=11).load()) == 2
    saved((3, 4), (3, 4), (3, 5), (2, 5))  # another feature width from the second chunk on
    assert len(_partial(tmp_path, every=2, batch=3, n=11).load()) == 2
    saved((3, 4), (3, 4), (3, 4), (2, 4))
    assert len(_partial(tmp_path, every=2, batch=4, n=11).load()) == 0  # another batch size: another folder


def test_clearing_removes_the_chunks_of_every_batch_size_and_device(tmp_path):
    for key, batch, device in (("abc", 2, "cpu"), ("abc", 4, "cpu"), ("abc", 2, "cuda:0"), ("xyz", 2, "cpu")):
        _partial(tmp_path, every=1, batch=batch, n=4, key=key, device=device).add(torch.zeros(min(batch, 4), 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "abc.partial-b2-cpu", "abc.partial-b2-cuda0", "abc.partial-b4-cpu", "xyz.partial-b2-cpu"]
    _partial(tmp_path, every=1, batch=2, n=4, key="abc").clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xyz.partial-b2-cpu"]  # another key's pass is kept


def test_an_unreadable_progress_folder_starts_the_pass_over(tmp_path, monkeypatch):
    p = _partial(tmp_path, every=1, batch=2, n=4)
    p.add(torch.zeros(2, 2))

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(type(tmp_path), "is_file", denied)
    again = _partial(tmp_path, every=1, batch=2, n=4)
    assert again.load() == [] and again.first == 0


def test_an_unwritable_progress_folder_warns_once_and_the_pass_goes_on(tmp_path):
    (tmp_path / "file").write_text("")
    p = _partial(tmp_path / "file", every=1, batch=2, n=4)  # a folder under a file cannot be made
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        p.add(torch.zeros(2, 2))
        p.add(torch.zeros(2, 2))  # no second warning, no error
    assert [str(w.message) for w in said if "a killed pass will start over" in str(w.message)] == [str(said[0].message)]
    assert len(said) == 1 and p.failed and p.load() == []


def test_evaluate_passes_over_the_reference_before_the_samples(tmp_path, monkeypatch):
    """The reference first: its pass is saved in chunks, so a kill or an error there loses no generated features."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    order, real = [], ev.collect
    monkeypatch.setattr(ev, "collect", lambda src, *a, **k: order.append(src.n) or real(src, *a, **k))
    opts = EvalOptions(metrics=["fid"], n=100, extractor="digits", batch=50)
    out = ev.evaluate(resolve_source("stacked-digits", 100, 2), _src(), opts)
    assert order == [300, 100] and out["fid"]["protocol"]["n_ref"] == 300
