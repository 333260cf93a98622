"""The config file: defaults for any command's options, so no flag needs repeating.

`$UPSLICE_CONFIG`, else `$XDG_CONFIG_HOME/upslice/config.toml` (`~/.config/...`). Top-level
keys apply to every command that has such an option; a `[command]` table to that command::

    server = "https://uploads.example.com"
    token = "s3cret"
    [upload]
    transfers = 4
    chunk-size = "8M"

A flag beats an environment variable, which beats the file, which beats the built-in default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer


def config_path() -> Path:
    explicit = os.environ.get("UPSLICE_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "upslice" / "config.toml"


def default_map(commands: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Click's `default_map` for `commands` from the config file (empty if there is none)."""
    path = config_path()
    if not path.is_file():
        if os.environ.get("UPSLICE_CONFIG"):
            raise typer.BadParameter(f"UPSLICE_CONFIG names {path}, which is not a file")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"config file {path}: {exc}") from None
    sections = {k: v for k, v in data.items() if isinstance(v, dict)}
    common = {key(k): v for k, v in data.items() if not isinstance(v, dict)}
    unknown = set(sections) - set(commands)
    if unknown:
        raise typer.BadParameter(f"config file {path}: no command named {sorted(unknown)[0]!r}")
    found: dict[str, dict[str, Any]] = {}
    for name, command in commands.items():
        options = {p.name for p in command.params if p.name}
        values = {k: v for k, v in common.items() if k in options}
        for k, v in sections.get(name, {}).items():
            if key(k) not in options:
                raise typer.BadParameter(f"config file {path}: [{name}] has no option {k!r}")
            values[key(k)] = v
        found[name] = values
    return found


def key(name: str) -> str:
    """`chunk-size` and `chunk_size` both name the `chunk_size` parameter."""
    return name.replace("-", "_")
