"""A config file read into data, refusing what can't be a config before anything else looks at it.

A config decides what gets deleted, so nothing in it may be read two ways: a key written twice (YAML and
JSON parsers silently keep the last one), bytes that aren't text, an empty file. Each of these is a
ConfigError with one line that names the file, and where in it when that is known.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MAX_CONFIG_BYTES = 1024 * 1024
"""A config is a few KB; anything past 1 MiB is a wrong file, refused before it is parsed."""


class ConfigError(Exception):
    """The config can't be used. Nothing was done; `problems` says why, one line each."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = f"invalid config {source}: {self.problems[0]}"
        else:
            listed = "\n".join(f"  - {problem}" for problem in self.problems)
            message = f"invalid config {source}: {len(self.problems)} problem(s)\n{listed}"
        super().__init__(message)


def read_document(path: Path) -> object:
    """The file's YAML or JSON document (JSON for a `.json` name), or a ConfigError saying why not."""
    source = str(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(source, [f"can't read the file: {error.strerror or error}"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            source, [f"the file is larger than {MAX_CONFIG_BYTES // 1024} KiB; a config is a few KB"]
        )
    nul = data.find(b"\0")
    if nul >= 0:
        raise ConfigError(
            source, [f"the file holds binary data (a NUL byte at offset {nul}), not YAML or JSON"]
        )
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start + len(data) - len(body)
        raise ConfigError(
            source, [f"the file is not UTF-8 text (byte 0x{data[offset]:02x} at offset {offset})"]
        ) from None
    if not text.strip():
        raise ConfigError(source, ["the file is empty"])
    if path.suffix.lower() == ".json":
        return _json(text, source)
    from ecr_janitor import config_yaml  # the deployed function reads JSON and has no PyYAML

    return config_yaml.load(text, source)


# -- JSON ----------------------------------------------------------------------------------------------


class _RepeatedJsonKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _RepeatedJsonKeyError(key)
        document[key] = value
    return document


def _json(text: str, source: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except _RepeatedJsonKeyError as error:
        raise ConfigError(
            source,
            [f"key {error.key!r} appears twice in one object; a repeated key would hide the first value"],
        ) from None
    except json.JSONDecodeError as error:
        raise ConfigError(
            source, [f"line {error.lineno}, column {error.colno}: not valid JSON: {error.msg}"]
        ) from None
