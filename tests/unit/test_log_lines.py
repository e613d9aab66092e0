"""The audit trail's cheaper path writes what Powertools' logger writes: for the same record, the same JSON
text (keys, values and order), in the CLI and with what Lambda adds (the invocation's keys, the X-Ray
trace id); and it honours the logger's level."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from ecr_janitor.observability import format_lines, log_lines, logger

FIELDS: list[dict[str, Any]] = [
    {
        "event": "deletion",
        "region": "eu-west-1",
        "repository": "team/api",
        "digest": "sha256:" + "a" * 64,
        "tags": ["v1", "ünïcode"],
        "pushed_at": "2026-01-02T03:04:05+00:00",
        "last_pulled_at": None,  # Powertools leaves None out
        "size_bytes": 123,
        "rule": 2,
        "reason": 'rule 2 (untagged, "quoted")',
    },
    {
        "event": "repository",
        "dry_run": False,
        "policy_differences": [],
        "detail": "",
        "when": datetime(2026, 1, 2, tzinfo=UTC),
    },
    {"event": "x", "service": "overridden by a field", "stack_trace": "dropped"},
]
LAMBDA_KEYS = {
    "cold_start": True,
    "function_name": "EcrJanitor",
    "function_memory_size": 1024,
    "function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:EcrJanitor",
    "function_request_id": "c6af9ac6-7b61-11e6-9a41-93e812345678",
}


@pytest.fixture
def keys() -> Iterator[None]:
    before = dict(logger.get_current_keys())
    yield
    logger.remove_keys([key for key in logger.get_current_keys() if key not in before])
    logger.append_keys(**before)


def _record(level: int, message: str, fields: dict[str, Any]) -> logging.LogRecord:
    """The record Powertools' logger makes for `logger.log(level, message, extra=fields)`."""
    return logging.getLogger(logger.name).makeRecord(
        logger.name, level, __file__, 42, message, (), None, "audit_call", extra=fields
    )


def _formatter() -> LambdaPowertoolsFormatter:
    formatter = logger.registered_formatter
    assert isinstance(formatter, LambdaPowertoolsFormatter)
    return formatter


def _powertools(record: logging.LogRecord) -> str:
    return _formatter().format(record)


@pytest.mark.parametrize("fields", FIELDS)
@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING, logging.ERROR])
def test_a_line_is_the_one_powertools_writes(keys: None, level: int, fields: dict[str, Any]) -> None:
    logger.append_keys(run_id="cli-20261203T171113Z-ff27351f")
    record = _record(level, "image deleted", fields)
    (line,) = format_lines(_formatter(), record, [fields])
    assert line == _powertools(record)


@pytest.mark.parametrize("fields", FIELDS)
def test_in_lambda_too(keys: None, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any]) -> None:
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    )
    logger.append_keys(**LAMBDA_KEYS, run_id="c6af9ac6-7b61-11e6-9a41-93e812345678")
    logger.thread_safe_append_keys(worker="thread-local key")
    try:
        record = _record(logging.INFO, "image deleted", fields)
        (line,) = format_lines(_formatter(), record, [fields])
        assert line == _powertools(record)
    finally:
        logger.thread_safe_clear_keys()
    written = json.loads(line)
    assert written["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert written["function_request_id"] == LAMBDA_KEYS["function_request_id"]


def test_a_message_that_is_json_is_written_as_json_like_powertools_does(keys: None) -> None:
    record = _record(logging.INFO, '{"a": 1}', FIELDS[0])
    (line,) = format_lines(_formatter(), record, [FIELDS[0]])
    assert line == _powertools(record)
    assert json.loads(line)["message"] == {"a": 1}


def test_every_line_of_a_batch_carries_its_own_fields(keys: None) -> None:
    batch = [{**FIELDS[0], "digest": f"sha256:{n}", "rule": n} for n in range(3)]
    record = _record(logging.INFO, "image deleted", {})
    lines = format_lines(_formatter(), record, batch)
    assert [json.loads(line)["digest"] for line in lines] == ["sha256:0", "sha256:1", "sha256:2"]
    assert lines == [_powertools(_at(record, _record(logging.INFO, "image deleted", f))) for f in batch]


def _at(when: logging.LogRecord, record: logging.LogRecord) -> logging.LogRecord:
    """`record`, made at the same instant as `when` (the batch's lines share its time)."""
    record.created, record.msecs = when.created, when.msecs
    return record


def test_written_to_stderr_like_the_logger_with_the_callers_location(
    keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logger.info("image deleted", extra=FIELDS[0])
    log_lines(logging.INFO, "image deleted", [FIELDS[0], FIELDS[0]])
    out, err = capsys.readouterr()
    assert out == ""
    by_logger, *ours = [json.loads(line) for line in err.splitlines()]
    assert len(ours) == 2
    for line in ours:
        assert list(line) == list(by_logger)
        assert line["location"].startswith(
            "test_written_to_stderr_like_the_logger_with_the_callers_location:"
        )
        assert {k: v for k, v in line.items() if k not in ("timestamp", "location")} == {
            k: v for k, v in by_logger.items() if k not in ("timestamp", "location")
        }


def test_nothing_below_the_loggers_level(keys: None, capsys: pytest.CaptureFixture[str]) -> None:
    level = logger.log_level
    try:
        logger.setLevel(logging.WARNING)
        log_lines(logging.INFO, "image deleted", [FIELDS[0]])
        assert capsys.readouterr().err == ""
        log_lines(logging.WARNING, "image not deleted", [FIELDS[0]])
        assert json.loads(capsys.readouterr().err)["level"] == "WARNING"
    finally:
        logger.setLevel(level)
