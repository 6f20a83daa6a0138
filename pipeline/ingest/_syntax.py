"""What the edge takes as JSON, decided around msgspec: depth, BOM, surrogates, NaN, repeats.

* A body nested more than :data:`MAX_JSON_DEPTH` levels of arrays and objects (the body's own
  object counts, and in a batch the ``batch`` array too) is a 400 ``too_deep``. The depth is
  measured by a few linear passes of C string methods before anything is decoded, so no decoder
  recurses past it (msgspec would recurse on, until a ``RecursionError``).
* A UTF-8 byte order mark at the start is ignored (RFC 8259 §8.1 allows it).
* An escape ``\\uD800``–``\\uDFFF`` that is not half of a pair has no UTF-8 form: it becomes
  U+FFFD, as Go's ``encoding/json`` and browsers' ``JSON.parse`` + UTF-8 encoding make it (a
  JavaScript client cutting a string inside an emoji sends one). Bytes that are not UTF-8
  stay an error.
* ``NaN`` and ``Infinity`` are not JSON: the body is a 400 ``malformed_json`` that says so.
* Of repeated names in an object the last wins, as in ``JSON.parse``, for every field the edge
  reads. ``properties``, ``traits`` and ``context`` are kept as the text sent when the fast path
  takes the event (see :mod:`._events`), repeats included; only the full path rewrites them.
"""

from __future__ import annotations

import re

from pipeline.ingest._errors import BadRequest

MAX_JSON_DEPTH = 64  # levels of nested arrays/objects in a body, its outermost included

BOM = b"\xef\xbb\xbf"
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_MARK = bytes(sorted(set(range(256)) - set(b'[]{}"')))
_RUNS = re.compile(rb"\[+|\]+")
_QUOTING_ESCAPE = re.compile(rb'\\["\\]')
_SLOW_PASS = 8  # a pass that drops under 1/8 of the marks is the last
# An escaped backslash, a surrogate pair, or a lone surrogate (the only one not kept as is).
_ESCAPES = re.compile(rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
                      rb"|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_LEN = 6
_AT_BYTE = re.compile(r"\(byte (\d+)\)")  # where msgspec says a body goes wrong


def json_depth(body: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep arrays and objects nest in ``body``; brackets inside strings do not count.

    Exact for JSON. Stops early with some depth over ``limit`` once it is sure to exceed it.
    For text that is not JSON, a number at least the depth a parser reaching the first error
    would have recursed to.
    """
    if b"\\" in body:  # drop escaped quotes and backslashes, as a lexer reads them
        body = _QUOTING_ESCAPE.sub(b"", body)
    marks = body.translate(_BRACKETS, _NOT_MARK)  # [ ] and "
    if b'"' in marks:
        # Dropping two adjacent quotes keeps every bracket inside or outside a string as it
        # was; what is left are the strings that hold brackets (rare).
        marks = marks.replace(b'""', b"")
        if b'"' in marks:
            marks = b"".join(marks.split(b'"')[::2])
    # Each pass drops the innermost pairs: one level less. When a pass drops little, one scan
    # of the runs left costs less than the passes still to come.
    depth = 0
    while marks and depth <= limit:
        shorter = marks.replace(b"[]", b"")
        dropped = len(marks) - len(shorter)
        if not dropped:
            break
        depth += 1
        marks = shorter
        if dropped * _SLOW_PASS < len(marks):
            break
    if marks and depth <= limit:
        depth += _prefix_depth(marks, limit - depth)
    return depth


def _prefix_depth(marks: bytes, limit: int) -> int:
    """The most brackets open at once, reading ``marks`` left to right."""
    depth = deepest = 0
    for run in _RUNS.findall(marks):
        if run[0] == 0x5B:  # "["
            depth += len(run)
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= len(run)
            if depth < 0:  # a stray "]": a parser stops here
                break
    return deepest


def prepare(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> bytes:
    """``body`` without a leading BOM; :class:`BadRequest` ``too_deep`` past ``max_depth``."""
    if body.startswith(BOM):
        body = body[len(BOM):]
    if json_depth(body, max_depth) > max_depth:
        raise too_deep(max_depth)
    return body


def too_deep(limit: int) -> BadRequest:
    return BadRequest(f"the body nests arrays and objects more than {limit} levels deep",
                      code="too_deep", limit=limit,
                      hint=f"flatten properties, traits and context: at most {limit} levels "
                           "of nesting, the body's own object (and the batch array) included")


def repair_surrogates(body: bytes) -> bytes | None:
    """``body`` with each lone surrogate escape made ``\\ufffd`` (as long); ``None`` if none."""
    if b"\\u" not in body:
        return None
    repaired = _ESCAPES.sub(_lone_to_fffd, body)
    return repaired if repaired != body else None


def _lone_to_fffd(match: re.Match[bytes]) -> bytes:
    return b"\\ufffd" if len(match[0]) == _LONE_LEN else match[0]


def malformed(err: Exception, body: bytes) -> BadRequest:
    """The 400 for a body no decoder reads, saying so when a NaN or Infinity is the reason."""
    message = f"the body is not valid JSON: {err}"
    at = _AT_BYTE.search(str(err))
    if at is not None and body[int(at[1]):int(at[1]) + 8].startswith((b"NaN", b"Infinity")):
        message += " (NaN and Infinity are not JSON numbers)"
    return BadRequest(message, code="malformed_json",
                      hint="send UTF-8 JSON, gzip-compressed or not, with NaN or Infinity sent "
                           "as null or a string")
