"""Config files: a run's config as TOML or JSON, read on top of a preset and written back as TOML.

A file holds an optional top-level `preset` and the sections of `Config` (model, data, loss, train, aug); every
key it sets overrides the preset, and `--set` goes on top. A run's `config.json` works as is. Python reads TOML
with the standard library (tomllib); the writer below covers the value types a config has (str, bool, int,
float, lists of them), so no TOML package is needed.
"""
from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from .config import SECTIONS, Config, _section_types
from .errors import GankitError


def _find(text: str, pattern: str, after: int = 0) -> int:
    """1-based number of the first line at or after line `after` (0-based) matching `pattern` (0 when none)."""
    lines = text.splitlines()
    return next((i + 1 for i in range(after, len(lines)) if re.match(pattern, lines[i])), 0)


def _line_of(text: str, section: str, name: str, toml: bool) -> int:
    """Where `section.name` (or a top-level `name` when section is "") is written in the file's text."""
    k = re.escape(name)
    if not toml:  # JSON: the first "name": after the section's "section":
        return _find(text, rf'^\s*"{k}"\s*:', _find(text, rf'^\s*"{re.escape(section)}"\s*:') if section else 0)
    if not section:
        return _find(text, rf"^\s*\[\s*{k}\s*\]") or _find(text, rf'^\s*"?{k}"?\s*[=.]')
    return (_find(text, rf'^\s*"?{k}"?\s*=', _find(text, rf"^\s*\[\s*{re.escape(section)}\s*\]"))
            or _find(text, rf"^\s*{re.escape(section)}\.{k}\s*="))


MAX_BYTES = 1 << 20  # a resolved config is a few KB


def _read_text(path: Path) -> str:
    """The file's text, or one line on what it is instead (missing, a folder, a device or FIFO, huge, not UTF-8)."""
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise GankitError(f"config file {path} does not exist; write one with `gankit describe --preset NAME --toml > "
                          f"{path.name}`") from None
    if stat.S_ISDIR(mode):
        raise GankitError(f"config file {path} is a folder; name a .toml or .json file")
    if not stat.S_ISREG(mode):  # /dev/zero, a FIFO: reading would never end or block
        raise GankitError(f"config file {path} is not a regular file (a device, FIFO or socket); name a .toml or .json file")
    if path.suffix.lower() not in (".toml", ".json"):
        raise GankitError(f"config file {path} must end in .toml or .json")
    if path.stat().st_size > MAX_BYTES:
        raise GankitError(f"config file {path} has {path.stat().st_size:,} bytes; a config is a few KB (at most "
                          f"{MAX_BYTES:,}): check that it is the right file")
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise GankitError(f"config file {path} is UTF-16 text; save it as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise GankitError(f"{path}:{line}: byte 0x{data[e.start]:02x} is not UTF-8 (a binary file, or text in another "
                          "encoding such as Latin-1); save the config as UTF-8") from None


def _at(path: Path, line: int) -> str:
    """path:line where the line is known, path alone where it is not (never :0:)."""
    return f"{path}:{line}" if line else str(path)


def read_config_file(path: str | Path) -> tuple[str, dict[str, Any]]:
    """(the file's preset or "", its settings as dotted keys); unknown keys refused with their line and the valid keys."""
    path = Path(path)
    text = _read_text(path)
    toml = path.suffix.lower() == ".toml"
    try:
        data = tomllib.loads(text) if toml else json.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise GankitError(f"{path}: not valid TOML ({e})") from None
    except json.JSONDecodeError as e:
        raise GankitError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except RecursionError:
        raise GankitError(f"{path}: nests tables or lists too deeply to be a config (a config has sections of plain "
                          "values)") from None
    if not isinstance(data, dict):
        raise GankitError(f"{path}: a config file holds a table of sections ({', '.join(SECTIONS)}), not {type(data).__name__}")
    preset = data.pop("preset", "")
    if not isinstance(preset, str):
        raise GankitError(f"{_at(path, _line_of(text, '', 'preset', toml))}: preset must be a name (a string), got {preset!r}")
    empty = Config()
    settings: dict[str, Any] = {}
    for section, values in data.items():
        if section not in SECTIONS or not isinstance(values, dict):
            raise GankitError(f"{_at(path, _line_of(text, '', section, toml))}: unknown section '{section}'; a config file has preset and the sections "
                              f"{', '.join(SECTIONS)}")
        valid = _section_types(getattr(empty, section))
        for name, value in values.items():
            if name not in valid:
                raise GankitError(f"{_at(path, _line_of(text, section, name, toml))}: unknown key '{section}.{name}'; "
                                  f"valid keys in '{section}': {', '.join(sorted(valid))}")
            settings[f"{section}.{name}"] = value
    return preset, settings


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)  # always has '.' or 'e': a TOML float
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a TOML basic string: JSON's escapes are TOML's


def to_toml(cfg: Config) -> str:
    """The whole config as TOML: `preset`, then one table per section, keys sorted; read_config_file reads it back."""
    d = cfg.to_dict()
    out = ["# gankit config: `gankit train --config FILE` (keys here override the preset; --set goes on top)",
           f"preset = {_toml_value(d['preset'])}"]
    for section in SECTIONS:
        out += ["", f"[{section}]"] + [f"{k} = {_toml_value(v)}" for k, v in sorted(d[section].items())]
    return "\n".join(out) + "\n"
