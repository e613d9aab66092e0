"""The package's layers, as the import graph: the pure core imports nothing else of the package, the
outputs never reach the adapters or the run, the adapters never decide or report, and infra/ takes
shared names from the constants module (and the config model it derives resources from)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lambda" / "ecr_janitor"


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _package_imports(layer: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(PACKAGE.parent)): {m for m in _imports(path) if m.startswith("ecr_janitor")}
        for path in (PACKAGE / layer).rglob("*.py")
    }


@pytest.mark.parametrize(
    ("layer", "allowed"),
    [
        ("core", ("ecr_janitor.core",)),
        (
            "outputs",
            (
                "ecr_janitor.core",
                "ecr_janitor.outputs",
                "ecr_janitor.constants",
                "ecr_janitor.config",
                "ecr_janitor.observability",
            ),
        ),
        (
            "adapters",
            (
                "ecr_janitor.core",
                "ecr_janitor.adapters",
                "ecr_janitor.config",
                "ecr_janitor.constants",
                "ecr_janitor.observability",
                "ecr_janitor.__version__",
            ),
        ),
    ],
)
def test_a_layer_imports_only_what_is_beneath_it(layer: str, allowed: tuple[str, ...]) -> None:
    found = _package_imports(layer)
    assert found, f"no modules in {layer}"
    stray = {
        module: sorted(m for m in imported if m != "ecr_janitor" and not m.startswith(allowed))
        for module, imported in found.items()
    }
    assert {module: names for module, names in stray.items() if names} == {}


def test_infra_takes_shared_names_from_the_constants_module_only() -> None:
    allowed = ("ecr_janitor.constants", "ecr_janitor.config")
    stray = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imports(path) if m.startswith("ecr_janitor.") and not m.startswith(allowed)
        )
        for path in [*(ROOT / "infra").glob("*.py"), ROOT / "app.py"]
    }
    assert {module: names for module, names in stray.items() if names} == {}
