"""The compiled JSON parser gives exactly what botocore's gives, for any answer any operation of the
janitor's JSON-protocol services can send: drawn from the service model with unknown members, nulls,
null list items, every timestamp and blob form, and answers that don't fit their model at all."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from typing import Any

import botocore.parsers
import botocore.session
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecr_janitor.adapters import parsing
from ecr_janitor.constants import AWS_SERVICES

_SESSION = botocore.session.get_session()
PROTOCOLS = {"json": botocore.parsers.JSONParser, "rest-json": botocore.parsers.RestJSONParser}
JSON_SERVICES = tuple(name for name in AWS_SERVICES if _SESSION.get_service_model(name).protocol in PROTOCOLS)
OPERATIONS = tuple(
    (service, operation)
    for service in JSON_SERVICES
    for operation in _SESSION.get_service_model(service).operation_names
    if (shape := _SESSION.get_service_model(service).operation_model(operation).output_shape) is not None
    and not shape.event_stream_name  # event streams are read by botocore's own path, untouched
)
JANITORS_CALLS = (
    ("ecr", "DescribeRepositories"),
    ("ecr", "DescribeImages"),
    ("ecr", "ListTagsForResource"),
    ("ecr", "BatchDeleteImage"),
    ("ecr", "BatchGetImage"),
    ("ecr", "GetLifecyclePolicy"),
    ("ecr", "PutLifecyclePolicy"),
    ("ecr", "UpdateImageStorageClass"),
    ("ecs", "ListClusters"),
    ("ecs", "ListTasks"),
    ("ecs", "DescribeTasks"),
    ("ecs", "ListServices"),
    ("ecs", "DescribeServices"),
    ("ecs", "DescribeServiceRevisions"),
    ("ecs", "DescribeTaskDefinition"),
    ("ssm", "GetParameter"),
    ("stepfunctions", "ListExecutions"),
    ("inspector2", "ListCoverage"),
    ("inspector2", "BatchGetAccountStatus"),
    ("lambda", "ListFunctions"),
    ("lambda", "GetFunction"),
    ("batch", "DescribeJobs"),
    ("batch", "DescribeJobDefinitions"),
    ("eks", "DescribeCluster"),
)
MAX_DEPTH = 6
WRONG_SHAPE = st.sampled_from(["ab", 5, {"k": "v"}, ["x"]])
"""Now and then an answer of the wrong shape where a list or map belongs: botocore's result (or error)
must come out of the compiled parser too."""


def protocol(service: str) -> str:
    return str(_SESSION.get_service_model(service).protocol)


def botocores_parser(service: str = "ecr") -> Any:
    return PROTOCOLS[protocol(service)](
        timestamp_parser=parsing.parse_timestamp, blob_parser=base64.b64decode
    )


def compiled_parser(service: str = "ecr") -> Any:
    return parsing.ResponseParserFactory().create_parser(protocol(service))


def answer(body: Any) -> dict[str, Any]:
    return {"status_code": 200, "headers": {"x-amzn-requestid": "r-1"}, "body": json.dumps(body).encode()}


def wire(shape: Any, depth: int = 0) -> st.SearchStrategy[Any] | None:
    """JSON values the service could send for `shape` (and nulls wherever a value can be); None where
    the depth limit leaves nothing valid (a tagged union must have a member)."""
    kind = shape.type_name
    if kind == "structure":
        if depth >= MAX_DEPTH:
            return None if shape.is_tagged_union else st.just({})
        members = {
            member.serialization.get("name", name): strategy
            for name, member in shape.members.items()
            if (strategy := wire(member, depth + 1)) is not None
        }
        if shape.is_tagged_union:
            if not members:
                return None
            tagged = (
                value.filter(_not_null).map(functools.partial(_tagged, tag)) for tag, value in members.items()
            )
            return st.one_of(*tagged)
        extra = {"unknownToTheModel": st.text(max_size=3), "alsoUnknown": st.none()}
        return st.fixed_dictionaries({}, optional={**members, **extra})
    if kind == "list":
        member = wire(shape.member, depth + 1)
        items = st.just([]) if member is None else st.lists(st.none() | member, max_size=3)
        return items | WRONG_SHAPE
    if kind == "map":
        value = wire(shape.value, depth + 1)
        entries = st.just({}) if value is None else st.dictionaries(st.text(max_size=4), value, max_size=3)
        return entries | WRONG_SHAPE
    if kind == "timestamp":
        return st.integers(0, 4_000_000_000) | st.floats(0, 4e9) | st.sampled_from(["2026-12-03T01:02:03Z"])
    if kind == "blob":
        return st.binary(max_size=8).map(lambda raw: base64.b64encode(raw).decode())
    if kind == "boolean":
        return st.booleans() | st.sampled_from(["true", "False", "yes"]) | st.none()
    if kind in ("integer", "long"):
        return st.integers(-(2**40), 2**40) | st.integers(-9, 9).map(float) | st.none()
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False) | st.none()
    return st.text(max_size=6) | st.none()


def _tagged(tag: str, value: Any) -> dict[str, Any]:
    return {tag: value}


def _not_null(value: Any) -> bool:
    return value is not None


def output_shape(service: str, operation: str) -> Any:
    return _SESSION.get_service_model(service).operation_model(operation).output_shape


@st.composite
def answers(draw: st.DrawFn, operations: tuple[tuple[str, str], ...]) -> tuple[str, str, Any]:
    service, operation = draw(st.sampled_from(operations))
    strategy = wire(output_shape(service, operation))
    assert strategy is not None
    return service, operation, draw(strategy)


def parse_both(service: str, operation: str, body: Any) -> tuple[Any, Any]:
    """What botocore and the compiled parser make of `body`: the parsed answer, or the type of what
    was raised (a null where the model has a number, in a map, is botocore's TypeError)."""
    shape = output_shape(service, operation)
    return (
        _outcome(lambda: botocores_parser(service).parse(answer(body), shape)),
        _outcome(lambda: compiled_parser(service).parse(answer(body), shape)),
    )


def _outcome(parse: Callable[[], Any]) -> Any:
    try:
        return typed(parse())
    except Exception as error:  # whatever botocore raises, the compiled parser must raise too
        return type(error)


def typed(value: Any) -> Any:
    """`value` with the type of every leaf and the order of every key: 2 and 2.0, or 1 and True, are not
    the same answer, and a dict's keys come in botocore's order."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    return (type(value).__name__, value)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(answers(OPERATIONS))
def test_the_same_result_as_botocore_for_any_answer(case: tuple[str, str, Any]) -> None:
    botocores, ours = parse_both(*case)
    assert ours == botocores


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(answers(JANITORS_CALLS))
def test_the_same_result_as_botocore_for_the_calls_the_janitor_makes(case: tuple[str, str, Any]) -> None:
    botocores, ours = parse_both(*case)
    assert ours == botocores


@pytest.mark.parametrize(("service", "operation"), OPERATIONS)
def test_every_operation_compiles(service: str, operation: str) -> None:
    botocores, ours = parse_both(service, operation, {})
    assert ours == botocores


def test_a_page_of_image_details_as_the_janitor_reads_it() -> None:
    detail = {
        "registryId": "123456789012",
        "repositoryName": "team/api",
        "imageDigest": "sha256:" + "a" * 64,
        "imageTags": ["v1", None],
        "imageSizeInBytes": 1234,
        "imagePushedAt": 1_767_225_600.5,
        "lastRecordedPullTime": 1_767_312_000,
        "imageStatus": "ACTIVE",
        "imageScanFindingsSummary": {
            "findingSeverityCounts": {"HIGH": 2},
            "imageScanCompletedAt": 1_767_225_601,
        },
        "notInTheModel": {"x": 1},
        "artifactMediaType": None,
    }
    body = {"imageDetails": [detail] * 3, "nextToken": "t"}
    botocores, ours = parse_both("ecr", "DescribeImages", body)
    assert ours == botocores
    parsed = compiled_parser().parse(answer(body), output_shape("ecr", "DescribeImages"))
    (first, *_) = parsed["imageDetails"]
    assert "notInTheModel" not in first
    assert "artifactMediaType" not in first
    assert first["imagePushedAt"].timestamp() == 1_767_225_600.5
    assert parsed["ResponseMetadata"]["RequestId"] == "r-1"


@pytest.mark.parametrize(
    "body",
    [
        {"imageDetails": {"not": "a list"}},
        {"imageDetails": ["not a structure"]},
        {"imageDetails": [{"imagePushedAt": "not a time"}]},
        [1, 2, 3],
    ],
)
def test_an_answer_that_does_not_fit_its_model_is_botocores_to_judge(body: Any) -> None:
    shape = output_shape("ecr", "DescribeImages")
    try:
        botocores: Any = botocores_parser().parse(answer(body), shape)
    except Exception as error:  # whatever botocore raises, the compiled parser raises too
        with pytest.raises(type(error)):
            compiled_parser().parse(answer(body), shape)
    else:
        assert compiled_parser().parse(answer(body), shape) == botocores


def test_errors_are_parsed_as_botocore_parses_them() -> None:
    error = {
        "status_code": 400,
        "headers": {"x-amzn-requestid": "r-2"},
        "body": json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode(),
    }
    shape = output_shape("ecr", "DescribeImages")
    assert compiled_parser().parse(error, shape) == botocores_parser().parse(error, shape)


def test_other_protocols_keep_botocores_parsers() -> None:
    factory = parsing.ResponseParserFactory()
    assert type(factory.create_parser("rest-xml")) is botocore.parsers.RestXMLParser
    assert type(factory.create_parser("query")) is botocore.parsers.QueryParser
    assert type(factory.create_parser("json")) is parsing.CompiledJSONParser
    assert type(factory.create_parser("rest-json")) is parsing.CompiledRestJSONParser


def test_rest_json_numbers_in_a_body_are_converted_as_botocore_converts_them() -> None:
    body = {"coveredResources": [{"resourceMetadata": {"ecrImage": {"inUseCount": 2.0}}}]}
    botocores, ours = parse_both("inspector2", "ListCoverage", body)
    assert ours == botocores
    (resource,) = compiled_parser("inspector2").parse(
        answer(body), output_shape("inspector2", "ListCoverage")
    )["coveredResources"]
    assert type(resource["resourceMetadata"]["ecrImage"]["inUseCount"]) is int


def test_a_shape_is_compiled_once_and_forgotten_with_its_client() -> None:
    model = botocore.session.get_session().get_service_model("ecr")
    shape = model.operation_model("DescribeImages").output_shape
    compiled_parser().parse(answer({}), shape)
    converter = parsing._compiled(shape, parsing.parse_timestamp, base64.b64decode, rest=False)
    assert parsing._compiled(shape, parsing.parse_timestamp, base64.b64decode, rest=False) is converter
    before = len(parsing._CACHE)
    del model, shape, converter
    import gc

    gc.collect()
    assert len(parsing._CACHE) < before
