"""botocore's response parsing, with the same results at a fraction of its CPU.

botocore turns a JSON answer into Python by walking the service model for every value: a page of 1000
image details is some 40,000 Python calls, about 20 ms of CPU, as much as the rest of the call. Here each
output shape is compiled once into a converter that does only what botocore does (structures lose
unknown and null members and take their model names and order, timestamps become datetimes, blobs bytes,
rest-json numbers are made int or float), copies lists and maps of plain values in one C call, and passes
strings and numbers through as `json.loads` made them. The result is botocore's, key order and types
included, which the tests check for every operation of the janitor's JSON and rest-json services, on
answers of the wrong shape too; tagged unions and anything a converter stumbles on are left to botocore.
"""

from __future__ import annotations

import base64
import functools
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.parsers
import botocore.utils

Converter = Callable[[Any], Any]
"""A JSON value (as `json.loads` made it) -> what botocore's parser makes of it."""


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser without its cost. JSON APIs (ECR, ECS, Inspector, ...) send epoch
    seconds, which botocore makes datetimes in dateutil's tzlocal(): a pure-Python time zone that every
    later comparison, sort and isoformat() of the datetime calls back into. Here an epoch becomes the same
    instant at the local time zone's offset for that instant, as a C `datetime.timezone` shared by every
    datetime with that offset (so sorting compares them without asking the zone at all): equal, ordered
    and printed exactly like botocore's. Anything else (ISO 8601 or RFC 822 text) goes to botocore."""
    try:
        seconds = float(value)
        local = time.localtime(seconds)
        return datetime.fromtimestamp(seconds, _zone(local.tm_gmtoff, local.tm_zone))
    except (TypeError, ValueError, OverflowError, OSError):
        parsed: datetime = botocore.utils.parse_timestamp(value)
        return parsed


@functools.cache
def _zone(offset_seconds: int, name: str) -> timezone:
    return timezone(timedelta(seconds=offset_seconds), name)


class ResponseParserFactory(botocore.parsers.ResponseParserFactory):  # type: ignore[misc]
    """botocore's factory, with the fast timestamp parser everywhere and compiled shapes for the JSON
    bodies of the "json" (ECR, ECS, SSM, ...) and "rest-json" (Inspector, EKS, Lambda, Batch) protocols;
    the other protocols keep botocore's parsers."""

    def __init__(self) -> None:
        super().__init__()
        # Plain functions (botocore's default blob parser is a bound method, a new one per parser), so that
        # a shape's compiled converter is found again for every parser this factory creates.
        self.set_parser_defaults(timestamp_parser=parse_timestamp, blob_parser=base64.b64decode)

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return CompiledJSONParser(**self._defaults)
        if protocol_name == "rest-json":
            return CompiledRestJSONParser(**self._defaults)
        return super().create_parser(protocol_name)


_MISFIT = (AttributeError, TypeError, ValueError, KeyError)
"""What a converter raises on an answer that doesn't fit its model (or on a shape it leaves to botocore):
botocore then decides what the answer means, as it always has."""


class CompiledJSONParser(botocore.parsers.JSONParser):  # type: ignore[misc]
    def _handle_json_body(self, raw_body: bytes, shape: Any) -> Any:
        value = self._parse_body_as_json(raw_body)
        if shape is None:
            return value
        try:
            return _compiled(shape, self._timestamp_parser, self._blob_parser, rest=False)(value)
        except _MISFIT:
            return self._parse_shape(shape, value)


class CompiledRestJSONParser(botocore.parsers.RestJSONParser):  # type: ignore[misc]
    """Headers, status codes and payload members stay botocore's; the body of the rest is compiled."""

    def _parse_payload(
        self, response: Any, shape: Any, member_shapes: Any, final_parsed: dict[str, Any]
    ) -> None:
        if "payload" in shape.serialization:
            super()._parse_payload(response, shape, member_shapes, final_parsed)
            return
        value = self._initial_body_parse(response["body"])
        try:
            parsed = _compiled(shape, self._timestamp_parser, self._blob_parser, rest=True)(value)
        except _MISFIT:
            parsed = self._parse_shape(shape, value)
        final_parsed.update(parsed)


# Compiled per output shape, for as long as the shape lives: botocore keeps a client's shapes with its
# service model, so clients that are dropped (another night in a warm Lambda) take theirs with them.
_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple[Converter, Converter, bool], Converter]]
_CACHE = weakref.WeakKeyDictionary()


def _compiled(shape: Any, timestamp: Converter, blob: Converter, *, rest: bool) -> Converter:
    by_parsers = _CACHE.get(shape)
    if by_parsers is None:
        by_parsers = _CACHE.setdefault(shape, {})
    converter = by_parsers.get((timestamp, blob, rest))
    if converter is None:
        converter = _Compiler(timestamp, blob, _REST_JSON_SCALARS if rest else {}).converter(shape)
        by_parsers[(timestamp, blob, rest)] = converter
    return converter


_REST_JSON_SCALARS: dict[str, Converter] = {
    # botocore's rest-json parser reads headers and body alike with these: a body's 1 in a double is 1.0.
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "boolean": botocore.utils.ensure_boolean,
}


def _unchanged(value: Any) -> Any:
    return value


class _Compiler:
    def __init__(self, timestamp: Converter, blob: Converter, scalars: dict[str, Converter]) -> None:
        self._timestamp = timestamp
        self._blob = blob
        self._scalars = scalars
        # By name: botocore makes a new Shape each time a member is resolved, and a name is one shape
        # (and where a member of that shape is read from: a header's is parsed differently).
        self._done: dict[tuple[str, str | None], Converter | None] = {}
        self._building: dict[tuple[str, str | None], list[Converter]] = {}

    def converter(self, shape: Any) -> Converter:
        return self._convert(shape) or _unchanged

    def _convert(self, shape: Any) -> Converter | None:
        """None: botocore gives the JSON value back as it is (a scalar)."""
        key = (shape.name, shape.serialization.get("location"))
        if key in self._done:
            return self._done[key]
        if key in self._building:
            # A recursive shape: call whatever it compiles to, once it has.
            pending = self._building[key]
            return lambda value: pending[0](value)
        slot: list[Converter] = []
        self._building[key] = slot
        built = self._build(shape)
        slot.append(built or _unchanged)
        del self._building[key]
        self._done[key] = built
        return built

    def _build(self, shape: Any) -> Converter | None:
        if self._scalars and shape.serialization.get("location"):
            # A header's or status code's member (rest-json): botocore converts that text its own way,
            # and a body never holds it.
            return _Botocore(shape)
        kind = shape.type_name
        if kind == "timestamp":
            return self._timestamp
        if kind == "blob":
            return self._blob
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        if kind == "structure":
            return self._structure(shape)
        return self._scalars.get(kind)

    def _list(self, shape: Any) -> Converter:
        member = self._convert(shape.member)
        if member is None:
            return list  # what botocore's item by item copy makes of anything (a string's characters...)
        return lambda values: [None if value is None else member(value) for value in values]

    def _map(self, shape: Any) -> Converter:
        key, value = self._convert(shape.key), self._convert(shape.value)
        if key is None and value is None:
            return _copied_map
        to_key, to_value = key or _unchanged, value or _unchanged
        return lambda values: {to_key(k): to_value(v) for k, v in values.items()}

    def _structure(self, shape: Any) -> Converter:
        if shape.is_document_type:
            return _unchanged
        if shape.is_tagged_union:
            return _Botocore(shape)
        # In the model's order, as botocore builds them: (wire name, name, converter or None).
        members = [
            (member.serialization.get("name", name), name, self._convert(member))
            for name, member in shape.members.items()
        ]
        if all(convert is None for _, _, convert in members):
            names = [(wire, name) for wire, name, _ in members]

            def plain(value: Any) -> Any:
                if value is None:
                    return None
                return {name: item for wire, name in names if (item := value.get(wire)) is not None}

            return plain

        def structure(value: Any) -> Any:
            if value is None:
                return None
            parsed = {}
            for wire, name, convert in members:
                item = value.get(wire)
                if item is not None:
                    parsed[name] = item if convert is None else convert(item)
            return parsed

        return structure


def _copied_map(values: Any) -> dict[Any, Any]:
    return dict(values.items())


class _Botocore:
    """Shapes the compiler leaves to botocore: it raises, and the parser falls back to botocore's walk."""

    def __init__(self, shape: Any) -> None:
        self._name = shape.name  # not the shape: the cache holds its shapes weakly

    def __call__(self, value: Any) -> Any:
        raise TypeError(f"{self._name} is parsed by botocore")
