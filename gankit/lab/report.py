"""`gankit report RUN`: one self-contained HTML page for a run (and, from `gankit experiment`, for a study).

Everything is inside the file (inline CSS and script; plots and sample grids as base64 PNGs), so it opens offline,
travels by e-mail and renders the same anywhere: run info and resolved config, the metric table at every snapshot
with its protocol, learning curves, sample grids over training, events, and the best checkpoint.
"""
from __future__ import annotations

import base64
import html
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable

from ..errors import GankitError
from ..files import read_json_object, write_atomic
from ..run import MetricsLog, RunTime, load_run_config, run_time

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3;cursor:pointer}td.l,th.l{text-align:left}
img{max-width:100%}figure img{max-width:520px}figure{display:inline-block;margin:6px;text-align:center}figcaption{font-size:12px;color:#555}
.muted{color:#666}code{background:#f5f5f5;padding:0 3px}.scroll{overflow-x:auto;max-width:100%}
figure.wide{display:block;margin:10px 0}figure.wide img{max-width:100%}"""
SCRIPT = """document.querySelectorAll('table.sortable th').forEach(function(th, i){th.addEventListener('click', function(){
var t=th.closest('table'), rows=Array.from(t.tBodies[0].rows), up=th.dataset.up!=='1';th.dataset.up=up?'1':'0';
rows.sort(function(a,b){var x=a.cells[i].innerText, y=b.cells[i].innerText, nx=parseFloat(x), ny=parseFloat(y);
var c=(isNaN(nx)||isNaN(ny))?x.localeCompare(y):nx-ny;return up?c:-c;});rows.forEach(function(r){t.tBodies[0].appendChild(r);});});});
document.body.dataset.rendered='yes';
window.addEventListener('load', function(){var imgs=Array.from(document.images);
document.body.dataset.overflow=String(document.documentElement.scrollWidth>window.innerWidth);
document.body.dataset.brokenImages=String(imgs.filter(function(i){return !i.complete||i.naturalWidth===0;}).length);
document.body.dataset.images=String(imgs.length);});"""


def _png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _table(head: list[str], rows: Iterable[list[Any]], sortable: bool = True, left: int = 1) -> str:
    def cell(i: int, v: Any, tag: str) -> str:
        text = f"{v:.4g}" if isinstance(v, float) else str(v)
        return f"<{tag}{' class=l' if i < left else ''}>{html.escape(text)}</{tag}>"
    out = [f"<div class=scroll><table{' class=sortable' if sortable else ''}><thead><tr>"
           + "".join(cell(i, h, "th") for i, h in enumerate(head)) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(cell(i, v, "td") for i, v in enumerate(r)) + "</tr>" for r in rows]
    return "".join(out) + "</tbody></table></div>"


def page(title: str, sections: list[tuple[str, str]]) -> str:
    """A whole HTML document: a title, then (heading, HTML body) sections."""
    body = "".join(f"<h2>{html.escape(h)}</h2>{b}" for h, b in sections)
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}<script>{SCRIPT}</script></body></html>")


def _protocol(cfg: Any, auto: dict) -> str:
    """What the snapshot metrics measure, from the run's config and what its automatic settings became (run.json)."""
    t = cfg.train

    def shown(key: str, value: str) -> str:
        got = auto.get(key)
        return f"<code>{html.escape(value)}</code>" + (f" (resolved: <code>{html.escape(str(got))}</code>)"
                                                       if got is not None and str(got) != value else "")
    return (f"snapshot metrics {shown('train.metrics', t.metrics)} on {t.eval_n} samples of the EMA generator "
            f"(seeded apart from training); features for fid/kid/pr/dc: <code>{html.escape(t.eval_extractor)}</code>; "
            f"reference: the run's training set (<code>{html.escape(cfg.data.name)}</code>); best checkpoint by "
            f"{shown('train.best_metric', t.best_metric)}")


def _side(path: Path, damaged: list[str]) -> dict:
    """A run's side file (run.json, import.json, best.json) as an object; {} and a line in `damaged` where it is not."""
    if not path.exists():
        return {}
    try:
        return read_json_object(path)
    except (OSError, ValueError) as e:  # unreadable, not UTF-8, not JSON, not an object
        damaged.append(f"{path.name}: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}")
        return {}


def _network_row(cfg: Any, imported: dict | None) -> list[str]:
    """The run's network: its preset, or for an imported run the shape inferred from the source (its preset name is
    only the closest match)."""
    if imported is None:
        return ["preset", cfg.preset]
    model = imported.get("model") if isinstance(imported.get("model"), dict) else {}
    shape = ", ".join(f"{k} {json.dumps(v)}" for k, v in model.items() if k in ("widths", "groups", "blocks"))
    return ["network (imported, inferred)", f"{imported.get('resolution', '?')}x{imported.get('resolution', '?')}, "
                                            f"{imported.get('num_classes', '?')} classes, {shape or 'shape unknown'}"]


def _time_row(t: RunTime) -> str:
    """The run's wall time while it ran, with what it holds and leaves out."""
    untimed = f"; {t.untimed_snapshots} snapshots untimed (inside the training time)" if t.untimed_snapshots else ""
    return (f"{t.seconds / 3600:.2f} h, of which snapshot metrics {t.snapshot_seconds / 60:.1f} min{untimed}; "
            f"{t.stretches} stretch{'es' * (t.stretches > 1)} (one more per resume), the time between them left out")


def run_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the run's report (default RUN/report.html) and return its path."""
    from .plot import plot_run

    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    log = run_dir / "metrics.jsonl"
    records = MetricsLog.read(log) if log.exists() else []
    damaged: list[str] = []  # side files the page could not read: named on it, never a traceback
    info = _side(run_dir / "run.json", damaged)
    sections = []
    auto = info.get("resolved") if isinstance(info.get("resolved"), dict) else {}
    imported = _side(run_dir / "import.json", damaged) if (run_dir / "import.json").exists() else None
    facts = [_network_row(cfg, imported), ["images seen", f"{max((r.get('images', 0) for r in records), default=0):,}"],
             ["time while running", _time_row(run_time(records))],
             *[[k, json.dumps(v) if isinstance(v, (dict, list)) else v] for k, v in info.items() if k != "resolved"]]
    if imported is not None:
        facts.append(["imported from", imported.get("source", "(unreadable)")])
    sections.append(("Run", _table(["item", "value"], facts, sortable=False, left=2)))
    flat = [[f"{sec}.{k}", json.dumps(v) if isinstance(v, list) else v] for sec, d in cfg.to_dict().items()
            if isinstance(d, dict) for k, v in d.items()]
    sections.append(("Resolved config", f"<details><summary>{len(flat)} keys (config.json)</summary>"
                                        f"{_table(['key', 'value'], flat, left=2)}</details>"))
    values = {k: str(v) for k, v in flat}
    sections.append(("Automatic settings, as resolved", _table(["key", "set to", "resolved on this run"],
                     [[k, values.get(k, ""), v] for k, v in auto.items()], sortable=False, left=3) if auto else
                     "<p>run.json records no resolved settings (a run from before they were recorded, or not started)</p>"))
    snaps = [r for r in records if "event" not in r and "loss_d" not in r]
    keys = sorted({k for r in snaps for k in r} - {"time", "images", "kimg"})
    none = auto.get("train.metrics", cfg.train.metrics) in ("none", "")
    sections.append(("Metrics at every snapshot", f"<p class=muted>{_protocol(cfg, auto)}</p>" + (
        _table(["kimg", *keys], [[r["kimg"], *(r.get(k, "") for k in keys)] for r in snaps]) if snaps
        else f"<p>no snapshot metrics ({'train.metrics is none' if none else 'no snapshot yet'})</p>")))
    if records:
        with tempfile.TemporaryDirectory() as tmp:
            plots = plot_run(run_dir, tmp)
            figs = "".join(f"<figure><img alt='{p.stem}' src='{_png(p)}'><figcaption>{p.stem}</figcaption></figure>" for p in plots)
        sections.append(("Learning curves", figs))
    grids = sorted(p for p in run_dir.glob("samples-*.png") if "channels" not in p.name)
    if grids:
        pick = [grids[round(i * (len(grids) - 1) / 5)] for i in range(min(6, len(grids)))] if len(grids) > 6 else grids
        figs = "".join(f"<figure><img alt='{p.stem}' src='{_png(p)}' width=256><figcaption>{int(p.stem.split('-')[1]) / 1000:g} kimg"
                       f"</figcaption></figure>" for p in dict.fromkeys(pick))
        sections.append(("Samples over training (EMA generator)", figs))
    events = [r for r in records if "event" in r]
    sections.append(("Events", _table(["kimg", "event", "message"], [[r.get("kimg", ""), r["event"], r.get("message", "")]
                                                                    for r in events], left=3) if events else "<p>none</p>"))
    best = run_dir / "checkpoints" / "best.json"
    meta = _side(best, damaged).get("meta")
    if isinstance(meta, dict):
        if not isinstance(meta.get("metrics"), (dict, type(None))):
            damaged.append(f"{best.name}: its metrics are not an object")
            meta = {**meta, "metrics": {}}
        sections.append(("Best checkpoint", _table(["item", "value"], [["images", meta.get("images")], *[[k, v] for k, v in
                                                   (meta.get("metrics") or {}).items()]], sortable=False, left=2)))
    if damaged:
        warnings.warn(f"{run_dir}: left out of the report: {'; '.join(damaged)}", stacklevel=2)
        sections.insert(0, ("Files that could not be read", "<ul>" + "".join(f"<li>{html.escape(d)}</li>" for d in damaged)
                            + "</ul>"))
    out = Path(out) if out else run_dir / "report.html"
    name = "/".join(run_dir.resolve().parts[-2:]) if run_dir.name == "run" else run_dir.name  # experiment cells: */run
    write_atomic(out, page(f"gankit run {name}", sections).encode())
    return out


def _study_protocol(cells: list[tuple[str, Path]]) -> str:
    """The metric protocols and the budgets the finished cells actually ran (from each cell's own config.json and
    log), as HTML: a study run with --set can differ from what it declares."""
    protocols: dict[str, int] = {}
    budgets: dict[str, int] = {}
    for _, run in cells:
        try:
            cfg = load_run_config(run)
        except (GankitError, OSError, ValueError):  # a damaged cell is named in the cell list, not here
            continue
        t = cfg.train
        auto = _side(run / "run.json", []).get("resolved") or {}
        metrics = t.metrics + (f" (resolved: {auto['train.metrics']})" if auto.get("train.metrics", t.metrics) != t.metrics else "")
        protocols[f"metrics <code>{html.escape(metrics)}</code> on {t.eval_n} samples of the EMA generator, features "
                  f"<code>{html.escape(t.eval_extractor)}</code>, reference: the training set "
                  f"(<code>{html.escape(cfg.data.name)}</code>, {cfg.data.resolution or 'native'} px)"] = 0
        result = _side(run.parent / "result.json", [])  # the cell's own record: where it stopped
        seen = result.get("kimg", result.get("diverged_kimg"))
        key = f"{t.kimg:g} kimg declared, batch {t.batch}" + (f", {seen:g} kimg seen" if isinstance(seen, (int, float)) else "")
        budgets[key] = budgets.get(key, 0) + 1
    if not budgets:
        return "<p>no finished cell yet</p>"
    return ("<p><b>Metric protocol</b> (from the cells' config.json):</p><ul>" + "".join(f"<li>{p}</li>" for p in protocols)
            + "</ul><p><b>Budget run</b>, per cell:</p><ul>" + "".join(f"<li>{b}: {n} cell{'s' * (n > 1)}</li>"
                                                                      for b, n in budgets.items()) + "</ul>")


def study_report(root: Path, title: str, summary: list[dict], cols: list[str], cells: list[tuple[str, Path]],
                 declared: str = "") -> Path:
    """A study's page (root/report.html): what it declares, the protocol and budget its cells ran, its summary table,
    its plots (full width) and a link to every cell's run."""
    sections = [("Protocol and budget", (f"<p>Declared: {html.escape(declared)}</p>" if declared else "")
                 + _study_protocol(cells)),
                ("Summary (mean and sample std over seeds; diverged and failed seeds counted, never averaged)",
                 _table(cols, [[row.get(c, "") for c in cols] for row in summary], left=2))]
    figs = "".join(f"<figure class=wide><img alt='{p.stem}' src='{_png(p)}'><figcaption>{p.name}</figcaption></figure>"
                   for p in sorted(root.glob("*.png")))
    if figs:
        sections.append(("Plots", figs))
    links = "".join(f"<li><a href='{html.escape(os.path.relpath(run, root))}/'>{html.escape(label)}</a>"
                    + (f" (<a href='{html.escape(os.path.relpath(run / 'report.html', root))}'>report</a>)"
                       if (run / "report.html").exists() else "") + "</li>" for label, run in cells)
    sections.append(("Cells", f"<ul>{links}</ul>"))
    out = root / "report.html"
    write_atomic(out, page(title, sections).encode())
    return out

