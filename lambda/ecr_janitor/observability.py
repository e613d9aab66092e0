"""The one Powertools Logger, Metrics and Tracer of the process, created once, here (README, Development).

Logs go to stderr so that stdout stays free for the CLI's report (`--json | jq` works). In Lambda,
stderr reaches CloudWatch Logs just like stdout; EMF metrics are printed to stdout by Powertools.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Generator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import RESERVED_LOG_ATTRS, LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import EphemeralMetrics
from aws_lambda_powertools.shared.constants import LAMBDA_TASK_ROOT_ENV, XRAY_TRACE_ID_ENV
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from ecr_janitor.constants import METRICS_NAMESPACE, SERVICE_NAME


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is logged, so redirections (tests, embedding) work."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


_handler = _CurrentStderrHandler()
logger = Logger(service=SERVICE_NAME, logger_handler=_handler)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
account_metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
"""The per-account metrics: their own blobs, apart from the totals' (Metrics instances share one set)."""


class _Untraced(BaseSegment, BaseProvider):
    """The tracer's provider outside Lambda, where Powertools disables tracing anyway. Its default
    provider, the X-Ray SDK, creates X-Ray clients when imported outside Lambda: 0.15 s of CPU on every
    CLI start (and in `make bench`, which measures what Lambda pays) for traces nothing would send."""

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass

    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield self

    @asynccontextmanager
    async def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> Any:
        yield self

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass


tracer = Tracer(service=SERVICE_NAME, provider=None if os.getenv(LAMBDA_TASK_ROOT_ENV) else _Untraced())


def log_lines(level: int, message: str, lines: Sequence[Mapping[str, Any]]) -> None:
    """One JSON line per entry of `lines`, each exactly what `logger.log(level, message, extra=entry)`
    writes (the same keys, values and order; tests/unit/test_log_lines.py compares them), at a fraction
    of the cost: one LogRecord and one caller lookup for all of them, and one acquisition of the handler's
    lock to write them. The audit trail writes a line per deletion, and through Powertools' logger each
    line cost more CPU than the deletion's share of the ECR call. `location` is the caller's, as for a
    logger call."""
    if not lines or not logging.getLogger(logger.name).isEnabledFor(level):
        return
    caller = sys._getframe(1)
    code = caller.f_code
    record = logging.LogRecord(
        logger.name, level, code.co_filename, caller.f_lineno, message, (), None, func=code.co_name
    )
    formatter = logger.registered_formatter
    assert isinstance(formatter, LambdaPowertoolsFormatter)
    text = "".join(f"{line}{_handler.terminator}" for line in format_lines(formatter, record, lines))
    _handler.acquire()
    try:
        _handler.stream.write(text)
        _handler.flush()
    finally:
        _handler.release()


def format_lines(
    formatter: LambdaPowertoolsFormatter, record: logging.LogRecord, lines: Sequence[Mapping[str, Any]]
) -> list[str]:
    """`formatter.format(record)` for `record` carrying each entry of `lines` as its extra fields, with
    the work that doesn't depend on the fields (the time, the reserved and appended keys) done once."""
    values = {**vars(record), "asctime": formatter.formatTime(record)}
    head: dict[str, Any] = {}
    for key, value in (*formatter.log_format.items(), *formatter.thread_safe_get_current_keys().items()):
        reserved = value and key in RESERVED_LOG_ATTRS and isinstance(value, str)
        head[key] = value % values if reserved else value
    head["message"] = _message(formatter, record.msg)
    trace = None if formatter.log_format.get("xray_trace_id", "") is None else os.getenv(XRAY_TRACE_ID_ENV)
    trace_id = trace.split(";")[0].replace("Root=", "") if trace else None
    formatted = []
    for line in lines:
        entry = {**head, **line}
        if formatter.serialize_stacktrace:
            entry["stack_trace"] = None  # no exception: Powertools writes None here, whatever the fields say
        entry["xray_trace_id"] = trace_id
        formatted.append(formatter.serialize({k: v for k, v in entry.items() if v is not None}))
    return formatted


def _message(formatter: LambdaPowertoolsFormatter, message: object) -> object:
    """A message that is JSON text is written as that JSON value, as Powertools does."""
    if not isinstance(message, str):
        return message
    try:
        return formatter.json_deserializer(message)
    except (json.JSONDecodeError, TypeError, ValueError):
        return message
