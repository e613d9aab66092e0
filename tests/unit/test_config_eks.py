"""`protect.eks`: its shorthands, its default, and a clear error for everything else."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ecr_janitor.config import ConfigError, parse_config
from infra.package import config_document as deployed_document
from tests.factories import config_document


def protect(text: str) -> Any:
    """`protect:` as YAML, the way a user writes it (YAML 1.1 reads a bare off as false)."""
    return parse_config({**config_document(), "protect": yaml.safe_load(text)}).protect


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        protect(text)
    return caught.value.problems


def test_every_cluster_of_every_region_by_default() -> None:
    settings = protect("{}")
    assert settings.eks.clusters == "auto"
    assert (settings.eks.discover, settings.eks.names, settings.reads_eks) == (True, (), True)


@pytest.mark.parametrize(
    ("text", "clusters", "reads"),
    [
        ("eks: off", "off", False),
        ("eks: 'off'", "off", False),
        ("eks: auto", "auto", True),
        ("eks: [prod, staging_2]", ["prod", "staging_2"], True),
        ("eks: {clusters: off}", "off", False),
        ("eks: {clusters: [prod], ignoreClusters: [sandbox]}", ["prod"], True),
    ],
)
def test_shorthands_and_the_object(text: str, clusters: Any, reads: bool) -> None:
    settings = protect(text)
    assert settings.eks.clusters == clusters
    assert settings.reads_eks is reads


def test_listed_names_are_read_in_every_region_without_discovery() -> None:
    eks = protect("eks: {clusters: [prod, staging], ignoreClusters: [staging]}").eks
    assert (eks.discover, eks.names, eks.ignore_clusters) == (False, ("prod", "staging"), ["staging"])


def test_in_use_off_turns_eks_off_too() -> None:
    assert protect("inUse: false").reads_eks is False
    assert protect("{inUse: false, eks: off}").reads_eks is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eks: on", "protect.eks.clusters: true is ambiguous here: use auto, off or a list of cluster names"),
        ("eks: everything", "protect.eks.clusters: 'everything': use auto, off or a list of cluster names"),
        ("eks: []", "protect.eks: clusters is an empty list; to read no cluster, use off"),
        ("eks: [prod, prod]", "protect.eks.clusters: listed more than once: prod"),
        (
            "eks: ['-prod', 'my cluster']",
            "protect.eks.clusters: not an EKS cluster name: '-prod', 'my cluster' "
            "(1-100 letters, digits, - and _)",
        ),
        (f"eks: [{'x' * 101}]", "protect.eks.clusters: not an EKS cluster name"),
        ("eks: {ignoreClusters: [a.b]}", "protect.eks.ignoreClusters: not an EKS cluster name: 'a.b'"),
        (
            "eks: {clusters: off, ignoreClusters: [x]}",
            "protect.eks: ignoreClusters has no effect with clusters off",
        ),
        ("eks: {cluster: auto}", "protect.eks.cluster: unknown field"),
        ("eks: {clusters: [1]}", "protect.eks.clusters: use auto, off or a list of cluster names"),
        ("eks: {clusters: 3}", "protect.eks.clusters: use auto, off or a list of cluster names"),
        (
            "{inUse: false, eks: [prod]}",
            "protect: eks reads workloads, which inUse false turns off; set eks: off or inUse: true",
        ),
        ("{inUse: false, eks: auto}", "protect: eks reads workloads, which inUse false turns off"),
    ],
)
def test_errors_name_the_field_and_what_it_accepts(text: str, expected: str) -> None:
    (problem,) = problems(text)
    assert problem.startswith(expected)


@pytest.mark.parametrize(
    "text", ["{}", "eks: off", "eks: auto", "eks: [prod]", "eks: {clusters: [a], ignoreClusters: [b]}"]
)
def test_the_deployed_json_says_the_same(text: str) -> None:
    config = parse_config({**config_document(), "protect": yaml.safe_load(text)})
    assert parse_config(yaml.safe_load(deployed_document(config))) == config
