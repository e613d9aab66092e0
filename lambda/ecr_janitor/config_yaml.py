"""The YAML config: PyYAML's safe loader, refusing a key written twice in one mapping (at any depth), with
errors that name the file, the line and the column. Only the CLI and `cdk synth` read YAML; the deployed
function reads the JSON synth wrote, and has no PyYAML."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml

from ecr_janitor.config_file import ConfigError

MERGE_TAG = "tag:yaml.org,2002:merge"


class UniqueKeyLoader(yaml.SafeLoader):
    """Records every key repeated in one mapping. Merge keys (`<<`) keep their YAML meaning: a key written
    out overrides a merged one."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_line: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeLoader refuses it below, with its position
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.repeated.append(
                    f"line {line}: key {key!r} is repeated (first at line {first_line[key]}); "
                    "a repeated key would silently replace the first value"
                )
            else:
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def load(text: str, source: str) -> object:
    loader = UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(source, ["the file is empty: it holds only comments"])
        document = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        raise ConfigError(source, [_problem(error)]) from None
    except yaml.YAMLError as error:
        raise ConfigError(source, [f"not valid YAML: {error}"]) from None
    finally:
        loader.dispose()
    if loader.repeated:
        raise ConfigError(source, loader.repeated)
    return document


def _problem(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    what = "; ".join(part for part in (error.context, error.problem) if part)
    return f"{where}not valid YAML: {what}"
