"""`gankit report`: a self-contained HTML page for a real run, opened in headless Chromium (the Debian package; .ci/run
installs it): it renders with no console error, its script runs, and a screenshot is taken. Outside CI a missing
browser skips the browser test, naming it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gankit.cli import main
from gankit.lab.report import SCRIPT, run_report, study_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome-headless-shell")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("r") / "tiny"
    assert main(["train", "--preset", "r3gan-tiny", "--kimg", "0.064", "--set", "train.snapshot_kimg=0.032", "--set",
                 "train.eval_n=256", "--set", "train.tensorboard=false", "--set", "train.log_kimg=0.016", "--out", str(out)]) == 0
    return out


def browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"no headless browser ({', '.join(BROWSERS)}) in CI: .ci/run installs the Debian chromium package")
        pytest.skip(f"no headless browser found ({', '.join(BROWSERS)}); `apt-get install chromium` runs this test")
    return found


def test_the_report_holds_everything_and_needs_no_network(run, tmp_path):
    path = run_report(run, tmp_path / "r.html")
    text = path.read_text()
    for heading in ("Run", "Resolved config", "Metrics at every snapshot", "Learning curves", "Samples over training",
                    "Events", "Best checkpoint"):
        assert f"<h2>{heading}" in text, heading
    assert text.count("<tr><td class=l>0.032</td>") + text.count("<tr><td class=l>0.064</td>") == 2  # two snapshots
    assert "modes_kl" in text and "on 256 samples" in text  # the metric table with its protocol
    assert re.search(r"time while running</td><td class=l>\d+\.\d\d h, of which snapshot metrics \d+\.\d min; 1 stretch ",
                     text)  # both snapshots timed (snapshot_s), one stretch
    assert len(re.findall(r"src='data:image/png;base64,", text)) >= 4  # plots and sample grids inside the file
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text)  # nothing fetched from anywhere


def render(html: Path, tmp_path: Path) -> tuple[str, str, Path]:
    exe = browser()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--log-level=0"]
    dom = subprocess.run([exe, *flags, "--window-size=1280,900", "--virtual-time-budget=5000", "--dump-dom", html.as_uri()],
                         capture_output=True, text=True, timeout=120)
    shot = tmp_path / "report.png"
    subprocess.run([exe, *flags, "--hide-scrollbars", "--window-size=1200,2400", f"--screenshot={shot}", html.as_uri()],
                   capture_output=True, text=True, timeout=120)
    return dom.stdout, dom.stderr, shot


def test_the_report_renders_in_headless_chromium_without_console_errors(run, tmp_path):
    path = run_report(run, tmp_path / "r.html")
    dom, log, shot = render(path, tmp_path)
    errors = [ln for ln in log.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not errors, errors
    assert 'data-rendered="yes"' in dom  # the page's script ran to its end
    assert "Metrics at every snapshot" in dom
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2400, 1200) and pixels.std() > 10  # a page, not a blank
    shutil.copy(shot, path.with_suffix(".png"))


def test_a_script_error_would_be_caught(run, tmp_path):
    """The console check can fail: the same page with a broken script shows an error."""
    path = run_report(run, tmp_path / "r.html")
    path.write_text(path.read_text().replace(SCRIPT, "undefinedFunction();" + SCRIPT))
    dom, log, _ = render(path, tmp_path)
    assert any("Uncaught ReferenceError" in ln for ln in log.splitlines()) and 'data-rendered="yes"' not in dom


def test_the_study_page_and_the_cli(run, tmp_path, capsys):
    shutil.copy(next(run.glob("samples-*.png")), tmp_path / "grid-plot.png")
    out = study_report(tmp_path, "a study", [{"dataset": "d", "method": "m", "modes": 3.5}], ["dataset", "method", "modes"],
                       [("d m seed 0", run)])
    text = out.read_text()
    assert "<td>3.5</td>" in text and "grid-plot.png" in text and os.path.relpath(run, tmp_path) in text
    assert main(["report", str(run)]) == 0 and (run / "report.html").exists()
    assert main(["report", str(tmp_path / "nope")]) == 2 and "not a gankit run" in capsys.readouterr().err


@pytest.mark.parametrize("name,content", [
    ("run.json", ""), ("run.json", "garbage{"), ("run.json", "[1, 2]"), ("run.json", b"\xff\xfe\x00binary"),
    ("import.json", "{"), ("import.json", "null"),
    ("checkpoints/best.json", "not json"), ("checkpoints/best.json", '{"meta": {"metrics": [1]}}'),
])
def test_damaged_side_files_are_named_on_the_page_not_a_traceback(run, tmp_path, name, content):
    """The report shows what it could read and names the rest (on the page and in one warning)."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    target = copy / name
    target.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.warns(UserWarning, match=f"left out of the report: {Path(name).name}"):
        page = run_report(copy).read_text()
    assert "Files that could not be read" in page and Path(name).name in page
    assert "Learning curves" in page and "Resolved config" in page  # the rest is still there


def test_log_records_without_kimg_and_a_config_section_that_is_not_an_object(run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    with open(copy / "metrics.jsonl", "a") as f:
        f.write('{"images": 5, "loss_d": 1}\n{"kimg": "x"}\n')
    with pytest.warns(UserWarning, match="skipped 2 unreadable line"):
        run_report(copy)
    cfg = (copy / "config.json").read_text()
    (copy / "config.json").write_text(cfg.replace('"train": {', '"train": [{', 1).replace("}\n}", "}]\n}", 1))
    assert main(["report", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert "config.json is damaged (section train is a JSON list, not an object)" in err and "\n" not in err


def layout(dom: str) -> dict[str, str]:
    """What the page's script measured once everything had loaded, in a 1280 px wide window."""
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    facts = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    assert "overflow" in facts, f"the load handler did not run: {body.group(1)}"
    return facts


def wide_study(run: Path, tmp_path: Path) -> Path:
    """A study page as `gankit experiment` writes it, with a summary table of 24 columns (a wide grid)."""
    shutil.copy(next(run.glob("samples-*.png")), tmp_path / "d-curves.png")
    cols = ["dataset", "method", *[f"metric_number_{i}" for i in range(22)]]
    rows = [{"dataset": "stacked-digits", "method": f"method-{j}", **{c: 123.456789 * (i + 1) for i, c in enumerate(cols[2:])}}
            for j in range(3)]
    (run.parent / "result.json").write_text('{"status": "ok", "kimg": 0.064}')  # the cell's record, as _run_cell writes it
    return study_report(tmp_path, "gankit experiment wide", rows, cols, [("d m seed 0", run)],
                        declared="a wide study, 0.064 kimg per cell")


def test_both_pages_fit_1280_px_load_every_image_and_state_their_protocol(run, tmp_path):
    """Issue 30: no horizontal overflow of the page in a 1280 px window (a wide table scrolls inside its own box),
    every image loaded, no console error; the run page shows what each automatic setting resolved to and the study page
    the metric protocol and the budget its cells ran."""
    for path in (run_report(run, tmp_path / "run.html"), wide_study(run, tmp_path)):
        dom, log, shot = render(path, tmp_path)
        facts = layout(dom)
        assert facts["overflow"] == "false", path.name
        assert facts["broken-images"] == "0" and int(facts["images"]) >= 1, facts
        assert not [ln for ln in log.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
        shutil.copy(shot, tmp_path / f"screenshot-{path.stem}.png")  # to look at
    page = (tmp_path / "run.html").read_text()
    assert "Automatic settings, as resolved" in page
    assert "<td class=l>train.metrics</td><td class=l>auto</td><td class=l>modes</td>" in page  # auto -> modes
    assert "(resolved: <code>modes</code>)" in page
    study = (tmp_path / "report.html").read_text()
    assert "Metric protocol" in study and "auto (resolved: modes)</code> on 256 samples of the EMA generator" in study
    assert "0.064 kimg declared, batch" in study and "0.064 kimg seen" in study


def test_the_overflow_check_can_fail(run, tmp_path):
    """The same wide study page without its scrolling box overflows a 1280 px window, and the check says so."""
    path = wide_study(run, tmp_path)
    path.write_text(path.read_text().replace("<div class=scroll>", "<div>"))
    assert layout(render(path, tmp_path)[0])["overflow"] == "true"


def test_an_imported_run_is_labelled_by_its_inferred_shape(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "import.json").write_text('{"source": "/x/network-snapshot.pkl", "resolution": 32, "num_classes": 10, '
                                      '"model": {"widths": [128, 128, 128, 128], "groups": [4, 4, 4, 4]}}')
    page = run_report(copy).read_text()
    assert "network (imported, inferred)" in page and "32x32, 10 classes, widths [128, 128, 128, 128]" in page
    assert "<td class=l>preset</td>" not in page
