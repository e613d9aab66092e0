"""Image URIs workloads hold, and which images of a repository they pin."""

from __future__ import annotations

import pytest

from ecr_janitor.core.model import Repository
from ecr_janitor.core.references import (
    ImageReference,
    UnreadableReference,
    parse_image_list,
    parse_image_uri,
    pinned_images,
)
from tests.factories import digest, image

D = "sha256:" + "ab" * 32
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
REPO = Repository("team/api", "arn:aws:ecr:us-east-1:123456789012:repository/team/api", "us-east-1")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"{HOST}/team/api:v1", ("team/api", "v1", None, "123456789012", "us-east-1")),
        (f"{HOST}/team/api@{D}", ("team/api", None, D, "123456789012", "us-east-1")),
        (f"{HOST}/team/api:v1@{D}", ("team/api", "v1", D, "123456789012", "us-east-1")),
        # neither tag nor digest: what Docker, ECS and Kubernetes pull is `latest`
        (f"{HOST}/team/api", ("team/api", "latest", None, "123456789012", "us-east-1")),
        ("team/api:v1", ("team/api", "v1", None, None, None)),
        (f"team/api@{D}", ("team/api", None, D, None, None)),
        ("api", ("api", "latest", None, None, None)),
        ("a/b/c:x", ("a/b/c", "x", None, None, None)),
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/x:1",
            ("x", "1", None, "123456789012", "us-gov-west-1"),
        ),
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/x:1",
            ("x", "1", None, "123456789012", "cn-north-1"),
        ),
        ("123456789012.dkr-ecr.eu-west-1.on.aws/x:1", ("x", "1", None, "123456789012", "eu-west-1")),
        # an explicit port
        (f"{HOST}:443/team/api:v1", ("team/api", "v1", None, "123456789012", "us-east-1")),
        (f"{HOST}:443/team/api@{D}", ("team/api", None, D, "123456789012", "us-east-1")),
        # every partition's DNS suffix (botocore partitions.json)
        (
            "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov/x:1",
            ("x", "1", None, "123456789012", "us-iso-east-1"),
        ),
        (
            "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov/x:1",
            ("x", "1", None, "123456789012", "us-isob-east-1"),
        ),
        (
            "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk/x:1",
            ("x", "1", None, "123456789012", "eu-isoe-west-1"),
        ),
        (
            "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov/x:1",
            ("x", "1", None, "123456789012", "us-isof-south-1"),
        ),
        (
            "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu/x:1",
            ("x", "1", None, "123456789012", "eusc-de-east-1"),
        ),
        (
            "123456789012.dkr.ecr.US-EAST-1.AMAZONAWS.COM/x:1",
            ("x", "1", None, "123456789012", "us-east-1"),
        ),
        (" team/api:v1 ", ("team/api", "v1", None, None, None)),
        ("docker.io/library/nginx:latest", None),
        ("public.ecr.aws/lambda/python:3.14", None),
        ("ghcr.io/team/api:v1", None),
        ("localhost:5000/team/api:v1", None),
        ("", None),
    ],
)
def test_parse_image_uri(
    uri: str, expected: tuple[str, str | None, str | None, str | None, str | None] | None
) -> None:
    reference = parse_image_uri(uri, "holder")
    if expected is None:
        assert reference is None
    else:
        assert isinstance(reference, ImageReference)
        assert (
            reference.repository,
            reference.tag,
            reference.digest,
            reference.account,
            reference.region,
        ) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "12345.dkr.ecr.us-east-1.amazonaws.com/team/api:v1",  # an account of 5 digits
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:https/team/api:v1",  # a port that isn't one
        "123456789012.dkr.ecr.useast1.amazonaws.com/team/api:v1",  # not a region
        "123456789012.dkr.ecr.us-east-1.amazonaws.co/team/api:v1",  # not a partition's suffix
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api:v1",  # a scheme
        f"{HOST}/team/api:v1 ",  # fine: stripped
        f"{HOST}/team/api:v1 extra",
        f"{HOST}/team/api:bad tag",
        "123456789012.dkr-ecr.eu-west-1.on.aws:8443/team/api:*",
        "registry.amazonaws.com/team/api:v1",
    ],
)
def test_a_uri_that_looks_like_ecr_but_does_not_parse_is_reported_not_ignored(uri: str) -> None:
    reference = parse_image_uri(uri, "ECS task definition api:3")
    if uri.endswith("v1 "):  # the control: the same URI, well formed, parses
        assert isinstance(reference, ImageReference)
        return
    assert reference == UnreadableReference(uri.strip(), "ECS task definition api:3")
    assert uri.strip() in reference.describe()
    assert "ECS task definition api:3" in reference.describe()


def ref(uri: str, holder: str = "ECS service prod/api") -> ImageReference:
    reference = parse_image_uri(uri, holder)
    assert isinstance(reference, ImageReference)
    return reference


IMAGES = [image("v1", "v1", "stable"), image("v2", "v2", "latest"), image("untagged")]


@pytest.mark.parametrize(
    ("uri", "pinned"),
    [
        (f"{HOST}/team/api:v1", {"v1"}),
        (f"{HOST}/team/api:stable", {"v1"}),
        (f"{HOST}/team/api@{digest('untagged')}", {"untagged"}),
        (f"{HOST}/team/api:v2@{digest('untagged')}", {"v2", "untagged"}),
        ("team/api:v2", {"v2"}),
        # no tag and no digest pulls `latest`, whichever image it is now; a named tag doesn't
        (f"{HOST}/team/api", {"v2"}),
        ("team/api", {"v2"}),
        (f"{HOST}/team/api:gone", set()),
        (f"{HOST}/team/api@{D}", set()),
        ("999999999999.dkr.ecr.us-east-1.amazonaws.com/team/api:v1", set()),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api:v1", set()),
        (f"{HOST}/team/other:v1", set()),
    ],
)
def test_pinned_images_by_tag_and_digest_in_every_form(uri: str, pinned: set[str]) -> None:
    result = pinned_images(REPO, IMAGES, [ref(uri)])
    assert set(result) == {digest(name) for name in pinned}
    assert all(holder == "ECS service prod/api" for holder in result.values())


def test_holders_are_summarised() -> None:
    refs = [ref(f"{HOST}/team/api:v1", f"ECS task t{n}") for n in range(5)]
    assert pinned_images(REPO, IMAGES, refs) == {
        digest("v1"): "ECS task t0, ECS task t1, ECS task t2 and 2 more"
    }


@pytest.mark.parametrize(
    ("text", "uris"),
    [
        ('["a:1", " b:2 "]', ["a:1", "b:2"]),
        ("a:1,b:2", ["a:1", "b:2"]),
        ("# EKS workloads\na:1   # prod\n\nb:2\n", ["a:1", "b:2"]),
        ("", []),
    ],
)
def test_extra_image_lists(text: str, uris: list[str]) -> None:
    assert parse_image_list(text) == uris


def test_an_extra_list_in_json_must_hold_strings() -> None:
    with pytest.raises(ValueError, match="array of strings"):
        parse_image_list('[1, "a"]')
