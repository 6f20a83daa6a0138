"""Hostile request bodies for the edge, and a reference depth scanner to judge them by.

A body is built as bytes from a few drawn choices (a valid request, then up to two hostile
changes), so a 5,000-level or 10,000-key body costs hypothesis one draw, not thousands.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

SINGLE = ("track", "identify", "page", "screen", "group", "alias")
ENDPOINTS = ("/v1/batch",) * 3 + tuple(f"/v1/{kind}" for kind in SINGLE)
BOM = b"\xef\xbb\xbf"
# json.dumps writes these as \u0000… escapes: slots for a raw JSON value, or raw string content.
VALUE, TEXT = "\x00value\x00", "\x01text\x01"
_VALUE_SLOT, _TEXT_SLOT = b'"\\u0000value\\u0000"', b"\\u0001text\\u0001"

NUMBERS = [b"1e999999", b"-1e999999", b"1E+400", b"4.9e-325", b"1e-999999", b"9" * 100,
           b"-" + b"9" * 100, b"9" * 5000, b"-0", b"-0.0", b"0e0", b"18446744073709551616",
           b"-9223372036854775809", b"1.7976931348623157e308", b"01", b"1.", b".5", b"+1",
           b"0x10", b"1e", b"--1"]
CONSTANTS = [b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"None", b"undefined"]
TEXTS = [rb"\ud800", rb"\udfff", rb"\uDBFF", rb"\ud83dx", rb"\ude00\ud83d", rb"\ud800\u0041",
         rb"\ud800\ud800", rb"\ud83d\ude00", rb"\\ud800", rb"\\\ud800", rb"\u0000", rb"\"",
         rb"\\", rb"\/", rb"\x", rb"\u12", rb"\uZZZZ", b"\xff", b"\xfe", b"\xc3", b"\xc3(",
         b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe2\x82", b"\x00", b"\n", b"\t",
         b"[[[[", b"]]]]", b'{"a":[', "é€😀".encode(), BOM]
WRONG_TOP = [b"[]", b'"batch"', b"1", b"null", b"true", b"{}", b'{"batch":{}}', b'{"batch":"x"}',
             b'{"batch":null}', b'{"batch":[1,"a",null,[],{}]}', b"", b"  ", b"\x00"]
DEPTHS = [60, 61, 62, 63, 64, 65, 66, 100, 1000, 5000, 50_000]


@dataclass
class Request:
    path: str
    body: bytes  # as the server reads it, before gzip
    headers: dict[str, str] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)

    @property
    def wire(self) -> bytes:
        return gzip.compress(self.body) if self.headers.get("Content-Encoding") else self.body


def nested(shape: str, depth: int, closed: bool) -> bytes:
    opens = {"array": b"[", "object": b'{"a":', "mixed": b'[{"a":'}[shape]
    closes = {"array": b"]", "object": b"}", "mixed": b"}]"}[shape]
    levels = depth // 2 if shape == "mixed" else depth
    return opens * levels + b"1" + (closes * levels if closed else b"")


def event(kind: str, message_id: str) -> dict[str, Any]:
    """A valid event of ``kind``, with a value slot in its properties."""
    base: dict[str, Any] = {"type": kind, "userId": "u1", "messageId": message_id,
                            "timestamp": "2026-11-27T09:59:00.000Z"}
    extras: dict[str, dict[str, Any]] = {
        "track": {"event": "Order Completed", "properties": {"revenue": 9.5, "x": VALUE}},
        "identify": {"traits": {"plan": "pro", "x": VALUE}},
        "page": {"name": "Home", "properties": {"x": VALUE}},
        "screen": {"name": "Feed", "properties": {"x": VALUE}},
        "group": {"groupId": "g1", "traits": {"x": VALUE}},
        "alias": {"previousId": "anon-1", "context": {"x": VALUE}},
    }
    return {**base, **extras[kind]}


@st.composite
def values(draw: st.DrawFn) -> bytes:
    """A JSON value, or something in its place that is not quite one."""
    kind = draw(st.sampled_from(["number", "constant", "nested", "wide", "string", "json"]))
    if kind == "number":
        return draw(st.one_of(st.sampled_from(NUMBERS),
                              st.integers(-(10**40), 10**40).map(lambda n: str(n).encode())))
    if kind == "constant":
        return draw(st.sampled_from(CONSTANTS))
    if kind == "nested":
        return nested(draw(st.sampled_from(["array", "object", "mixed"])),
                      draw(st.sampled_from(DEPTHS)), draw(st.booleans()))
    if kind == "wide":
        n = draw(st.sampled_from([10_000, 20_000]))
        if draw(st.booleans()):
            return b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(n)) + b"}"
        return b"{" + b",".join([b'"k":1'] * n) + b"}"  # one name, repeated
    if kind == "string":
        size = draw(st.sampled_from([33 * 1024, 100 * 1024, 600 * 1024]))
        unit = draw(st.sampled_from([b"x", "é".encode()]))
        return b'"' + unit * (size // len(unit)) + b'"'
    return json.dumps(draw(st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner,
                                                                    max_size=3),
        max_leaves=10))).encode()


@st.composite
def hostile_requests(draw: st.DrawFn) -> Request:
    """A valid request to one endpoint, then up to two hostile changes of its body."""
    path = draw(st.sampled_from(ENDPOINTS))
    kind = path.rsplit("/", 1)[1]
    ids = st.uuids().map(str)
    if kind == "batch":
        kinds = draw(st.lists(st.sampled_from(SINGLE), min_size=1, max_size=4))
        doc: Any = {"batch": [event(k, draw(ids)) for k in kinds],
                    "sentAt": "2026-11-27T10:00:00.000Z"}
        target = draw(st.sampled_from(["event", "envelope", "element"]))
        if target == "envelope":
            doc[draw(st.sampled_from(["sentAt", "writeKey", "app_id", "extra"]))] = VALUE
        elif target == "element":
            doc["batch"].append(VALUE)
    else:
        doc = {k: v for k, v in event(kind, draw(ids)).items() if k != "type"}
    events = [e for e in doc["batch"] if e != VALUE] if kind == "batch" else [doc]
    victim = events[draw(st.integers(0, len(events) - 1))]
    where = draw(st.sampled_from(["messageId", "userId", "event", "timestamp", "extra", "name",
                                  "properties"]))
    if where == "name":  # of a property
        victim.setdefault("properties", {})[TEXT] = 1
    elif where != "properties":  # which has a value slot already
        victim[where] = draw(st.sampled_from([VALUE, f"id-{TEXT}"]))
    request = Request(path, json.dumps(doc).encode())
    for _ in range(draw(st.integers(0, 2))):
        change = draw(st.sampled_from(
            ["value", "text", "duplicate", "truncate", "bom", "top", "trailing", "gzip"]))
        request.changes.append(change)
        apply(draw, request, change)
    if _VALUE_SLOT in request.body:  # one drawn value at least
        request.body = request.body.replace(_VALUE_SLOT, draw(values()), 1)
    request.body = request.body.replace(_VALUE_SLOT, b"null").replace(_TEXT_SLOT, b"t")
    return request


def apply(draw: st.DrawFn, request: Request, change: str) -> None:
    body = request.body
    if change == "value":
        body = body.replace(_VALUE_SLOT, draw(values()), 1)
    elif change == "text":
        body = body.replace(_TEXT_SLOT, draw(st.one_of(st.sampled_from(TEXTS),
                                                       st.binary(min_size=1, max_size=6))), 1)
        body = body.replace(b'"u1"', b'"u1' + draw(st.sampled_from(TEXTS)) + b'"', 1)
    elif change == "duplicate":  # a name twice: another value first, the one sent last
        name = draw(st.sampled_from([b"messageId", b"userId", b"type", b"event", b"properties",
                                     b"batch", b"x"]))
        again = draw(st.sampled_from([b'"other"', b"1", b"null", b"{}", b'[{"a":1}]']))
        at = body.find(b'"' + name + b'":')
        if at > 0:
            body = body[:at] + b'"' + name + b'":' + again + b"," + body[at:]
    elif change == "truncate":
        body = body[:draw(st.integers(0, max(len(body) - 1, 0)))]
    elif change == "bom":
        body = draw(st.sampled_from([BOM + body, b"\xff\xfe" + body, body.replace(
            b"[{", b"[" + BOM + b"{", 1)]))
    elif change == "top":
        body = draw(st.sampled_from([*WRONG_TOP, b"[" + body + b"]"]))
    elif change == "trailing":
        body = draw(st.sampled_from([body + b" x", body + body, b" \n" + body + b"\n",
                                     body + b"\x00"]))
    elif change == "gzip":
        request.headers["Content-Encoding"] = "gzip"
    request.body = body


def reference_depth(text: bytes) -> int:
    """How deep a parser of ``text`` gets before its first stray close or a backslash outside a
    string: a plain character loop, to judge the edge's own scan by."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte == 0x5C:
            break
        elif byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
            if depth < 0:
                break
    return deepest


def strict_json(body: bytes) -> Any:
    """``body`` as strict JSON (UTF-8, no NaN or Infinity), repeated names allowed; raises
    ``ValueError`` otherwise."""
    def no_constant(name: str) -> Any:
        raise ValueError(name)

    return json.loads(body.decode("utf-8"), parse_constant=no_constant)


def lenient_json(body: bytes) -> Any:
    """``body`` read the way the edge reads what it accepts: bytes that are not UTF-8 and any
    number are fine."""
    return json.loads(body.decode("utf-8", "replace"), parse_int=str, parse_float=str,
                      parse_constant=str)
