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


def read_config_file(path: str | Path) -> tuple[str, dict[str, Any]]:
    """(the file's preset or "", its settings as dotted keys); unknown keys refused with their line and the valid keys."""
    path = Path(path)
    if not path.is_file():
        raise GankitError(f"config file {path} does not exist; write one with `gankit describe --preset NAME --toml > {path.name}`")
    toml = path.suffix.lower() == ".toml"
    if not toml and path.suffix.lower() != ".json":
        raise GankitError(f"config file {path} must end in .toml or .json")
    text = path.read_text()
    try:
        data = tomllib.loads(text) if toml else json.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise GankitError(f"{path}: not valid TOML ({e})") from None
    except json.JSONDecodeError as e:
        raise GankitError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise GankitError(f"{path}: a config file holds a table of sections ({', '.join(SECTIONS)}), not {type(data).__name__}")
    preset = data.pop("preset", "")
    if not isinstance(preset, str):
        raise GankitError(f"{path}:{_line_of(text, '', 'preset', toml)}: preset must be a name (a string), got {preset!r}")
    empty = Config()
    settings: dict[str, Any] = {}
    for section, values in data.items():
        if section not in SECTIONS or not isinstance(values, dict):
            raise GankitError(f"{path}:{_line_of(text, '', section, toml)}: unknown section '{section}'; a config file has preset and the sections "
                              f"{', '.join(SECTIONS)}")
        valid = _section_types(getattr(empty, section))
        for name, value in values.items():
            if name not in valid:
                raise GankitError(f"{path}:{_line_of(text, section, name, toml)}: unknown key '{section}.{name}'; "
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
