"""Statistics files: a reference pass killed part-way resumes from the chunks it saved and gives the statistics an
unbroken pass gives, bitwise; a damaged chunk is recomputed, not trusted."""
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
    folders = list((tmp_path / "cache" / "stats").glob("*.partial-b50"))
    assert len(folders) == 1 and sorted(p.name for p in folders[0].iterdir()) == ["0000000.safetensors", "0000002.safetensors"]

    calls.clear()
    monkeypatch.setattr(DigitExtractor, "features", lambda self, x: calls.append(len(x)) or real(self, x))
    c = reference(_src(), {"features"}, opts)
    assert calls == [50, 50]  # batches 5 and 6 only: the first four came from the two chunks
    assert torch.equal(c.features, whole.features) and c.n == whole.n == 300
    assert torch.equal(c.moments.mean, whole.moments.mean) and torch.equal(c.moments.cov, whole.moments.cov)
    assert not folders[0].exists()  # the chunks go once the statistics are cached
    assert list((tmp_path / "cache" / "stats").glob("*.safetensors"))


def test_a_damaged_chunk_and_the_chunks_after_it_are_recomputed(tmp_path):
    p = PartialFeatures(tmp_path / "part", every=2)
    batches = [torch.full((3, 4), float(i)) for i in range(6)]
    for b in batches:
        p.add(b)
    assert [f.tolist() for f in PartialFeatures(tmp_path / "part", 2).load()] == [b.tolist() for b in batches]
    (tmp_path / "part" / "0000002.safetensors").write_bytes(b"cut short")
    again = PartialFeatures(tmp_path / "part", 2)
    assert [f[0, 0].item() for f in again.load()] == [0.0, 1.0] and again.first == 2  # chunk 4's follow a gap: unused
    again.add(batches[2]), again.add(batches[3])  # rewritten in place
    assert [f[0, 0].item() for f in PartialFeatures(tmp_path / "part", 2).load()] == [0, 1, 2, 3, 4, 5]


def test_an_unwritable_progress_folder_warns_once_and_the_pass_goes_on(tmp_path):
    (tmp_path / "file").write_text("")
    p = PartialFeatures(tmp_path / "file" / "part", every=1)  # a folder under a file cannot be made
    with pytest.warns(UserWarning, match="a killed pass will start over"):
        p.add(torch.zeros(2, 2))
    p.add(torch.zeros(2, 2))  # no second warning, no error
    assert p.failed and p.load() == []
