"""A step's memory, measured before the first step (training.memory): the meter reads real allocations, the choice
of micro-batch is worked by hand, and a run that cannot fit is refused in one line before anything is written."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gankit.errors import GankitError
from gankit.training.memory import MARGIN, PeakMeter, choose_micro

MiB = 1 << 20
needs_proc = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="/proc/self/clear_refs is missing (not Linux)")


def touch(n: int) -> None:
    x = torch.empty(n, dtype=torch.uint8)
    x.fill_(1)  # resident, not only reserved
    del x


@needs_proc
def test_the_meter_reads_a_real_allocation_and_forgets_an_earlier_peak():
    meter = PeakMeter(torch.device("cpu"))
    assert 190 * MiB <= meter(lambda: touch(200 * MiB)) <= 230 * MiB
    touch(400 * MiB)  # an earlier, larger peak: the next piece is measured from the reset high-water mark
    assert 90 * MiB <= meter(lambda: touch(100 * MiB)) <= 130 * MiB


@needs_proc
def test_the_meter_sees_memory_the_heap_had_kept_from_earlier_work():
    """64 KiB pieces live on the C heap: freed, they stay resident and would be reused unseen (a dataset's decoding
    before the measurement) unless the heap hands them back first."""
    def small_pieces(total: int) -> None:
        keep = [torch.ones(1 << 14) for _ in range(total // (1 << 16))]  # 64 KiB each
        del keep

    small_pieces(300 * MiB)
    meter = PeakMeter(torch.device("cpu"))
    assert meter(lambda: small_pieces(200 * MiB)) >= 150 * MiB


def test_choose_micro_by_hand():
    # need(m) = 1.25 (a + b m) with a = 100, b = 10; per-process batch 32, run in one pass (micro 0)
    a, b = 100.0, 10.0
    assert choose_micro(32, 0, a, b, MARGIN * (a + b * 32), True) == (0, False)  # 525 fits exactly
    assert choose_micro(32, 0, a, b, MARGIN * (a + b * 8), True) == (8, True)  # 225: 8 fits, 16 (325) does not
    assert choose_micro(32, 0, a, b, MARGIN * (a + b * 8) - 1, True) == (4, True)
    assert choose_micro(24, 12, a, b, MARGIN * (a + b * 7), True) == (6, True)  # divisors of 24 below 12: 6 fits
    with pytest.raises(GankitError, match="even one image per micro-batch needs about"):
        choose_micro(32, 0, a, b, 100.0, True)
    with pytest.raises(GankitError, match="batch statistics make micro-batches change its results"):
        choose_micro(32, 0, a, b, MARGIN * (a + b * 8), False)


def test_a_run_lowers_its_micro_batch_to_what_fits_and_says_so(tmp_path):
    """A real subprocess (a fresh process: what it has resident is the CLI's, not an earlier test's)."""
    out = tmp_path / "fit"
    p = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "r3gan-digits", "--kimg", "0.064", "--set",
                        "train.threads=1", "--set", "train.metrics=none", "--set", "train.memory_gib=0.05", "--out",
                        str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    line = [x for x in p.stdout.splitlines() if x.startswith("memory:")]
    assert len(line) == 1 and "usable: micro-batches of" in line[0]
    chosen = int(line[0].split("micro-batches of ")[1].split()[0])
    assert 1 <= chosen < 32 and 32 % chosen == 0
    assert json.loads((out / "config.json").read_text())["train"]["batch_gpu"] == chosen


def test_a_run_that_cannot_fit_is_refused_in_one_line_and_writes_nothing(tmp_path):
    """A real subprocess: batch norm (DCGAN) cannot be split into micro-batches without changing its results."""
    out = tmp_path / "nofit"
    p = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "dcgan-digits", "--kimg", "0.064", "--set",
                        "train.threads=1", "--set", "train.memory_gib=0.002", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert "would not fit in memory: about" in p.stderr and "lower train.batch" in p.stderr
    assert not out.exists()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_memory_steps_run_at_the_run_s_precision(monkeypatch, precision):
    """The micro-batch is planned from steps in the run's numerics (bf16 stages halve activations), whatever this
    machine would pick: the measured step sees G and D with their bf16 stages as the run sets them."""
    from types import SimpleNamespace

    import gankit.training.memory as memory
    from gankit.networks import build_networks
    from gankit.presets import resolve

    cfg = resolve("r3gan-digits")
    G, D = build_networks(cfg.model, (3, 16, 16), 0)
    seen = []

    class Stop(Exception):
        pass

    def d_step(G2, D2, *rest):
        seen.append((G2.bf16, D2.bf16))
        raise Stop
    monkeypatch.setattr(memory, "d_step", d_step)
    monkeypatch.setattr(memory, "PeakMeter", lambda device: lambda fn: fn())
    with pytest.raises(Stop):
        memory.step_peaks(cfg, G, D, SimpleNamespace(loss=None, regs=None), (3, 16, 16), 0, [2], torch.device("cpu"),
                          precision)
    assert seen == [(precision == "bf16",) * 2]
    assert not G.bf16 and not D.bf16  # on copies: the run's own networks are not touched
