"""The edge's JSON rules as functions: the depth scan judged by a plain character loop (exact on
JSON, never short of it on anything else), lone surrogates, NaN in the message."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.ingest._errors import BadRequest
from pipeline.ingest._syntax import (
    MAX_JSON_DEPTH,
    json_depth,
    malformed,
    prepare,
    repair_surrogates,
)

from .hostile import BOM, nested, reference_depth

# Strings full of what the scan must see through: brackets, quotes, backslashes.
tricky = st.text(alphabet=st.sampled_from('ab[]{}"\\é😀 '), max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky, inner, max_size=4),
    max_leaves=40)
# Anything made of the characters that matter, valid or not.
soup = st.lists(st.sampled_from(['[', ']', '{', '}', '"', '\\', 'a', ':', ',', '\\"', '\\\\']),
                max_size=60).map(lambda parts: "".join(parts).encode())


@settings(max_examples=500)
@given(json_values, st.booleans(), st.integers(1, 12))
def test_depth_of_json_is_exact(value: object, ascii_only: bool, limit: int) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only).encode()
    expected = reference_depth(text)
    assert json_depth(text, 10_000) == expected
    depth = json_depth(text, limit)
    assert depth == expected if expected <= limit else depth > limit


@settings(max_examples=500)
@given(st.one_of(soup, json_values.map(lambda v: json.dumps(v).encode()).flatmap(
    lambda text: st.integers(0, len(text)).map(lambda cut: text[:cut]))), st.integers(0, 8))
def test_depth_of_any_text_is_never_short_of_what_a_parser_reaches(text: bytes,
                                                                     limit: int) -> None:
    expected, depth = reference_depth(text), json_depth(text, limit)
    assert depth > limit if expected > limit else depth >= expected


@pytest.mark.parametrize(("body", "depth"), [
    (nested("array", 5000, closed=True), "over"),
    (nested("object", 5000, closed=False), "over"),
    (b"[" * 512 * 1024, "over"),
    (nested("array", MAX_JSON_DEPTH, closed=True) * 4000, MAX_JSON_DEPTH),
    (nested("array", MAX_JSON_DEPTH + 1, closed=True) * 4000, "over"),
    (nested("array", 3, closed=True) * 50_000, 3),  # passes that drop little: a scan of runs
    (nested("array", 9, closed=True) * 20_000, 9),
    (b'["' + b"]" * 100_000 + b'"]', 1),
    (b'["' + b'\\"' * 100_000 + b'[["]', 1),
    (b'["\\\\", [[["\\\\\\"]"]]]]', 4),
    (b"[]" * 100_000, 1),
])
def test_depth_of_large_and_awkward_bodies(body: bytes, depth: int | str) -> None:
    got = json_depth(body)
    assert got > MAX_JSON_DEPTH if depth == "over" else got == depth
    assert (reference_depth(body) > MAX_JSON_DEPTH) == (got > MAX_JSON_DEPTH)


def test_prepare_drops_a_bom_and_refuses_past_the_limit() -> None:
    assert prepare(BOM + b'{"batch":[]}') == b'{"batch":[]}'
    assert prepare(nested("array", MAX_JSON_DEPTH, closed=True)) is not None
    with pytest.raises(BadRequest) as err:
        prepare(nested("array", MAX_JSON_DEPTH + 1, closed=True))
    assert err.value.code == "too_deep" and err.value.to_dict()["limit"] == MAX_JSON_DEPTH
    with pytest.raises(BadRequest):
        prepare(nested("array", 3, closed=True), max_depth=2)


@pytest.mark.parametrize(("body", "repaired"), [
    (rb'"\ud800"', rb'"\ufffd"'),
    (rb'"a\udfffb"', rb'"a\ufffdb"'),
    (rb'"\ude00\ud83d"', rb'"\ufffd\ufffd"'),  # a pair the wrong way round
    (rb'"\ud800\u0041"', rb'"\ufffd\u0041"'),
    (rb'"\ud83d\ud83d\ude00"', rb'"\ufffd\ud83d\ude00"'),
    (rb'"\\\ud800"', rb'"\\\ufffd"'),  # an escaped backslash, then a lone surrogate
    (rb'"\ud83d\ude00"', None),
    (rb'"\uD83D\uDE00"', None),
    (rb'"\\ud800"', None),  # a backslash, then text
    (b'"no escapes"', None),
])
def test_lone_surrogate_escapes_become_fffd(body: bytes, repaired: bytes | None) -> None:
    assert repair_surrogates(body) == repaired
    if repaired is not None:
        assert "\ufffd" in msgspec.json.decode(repaired)


def test_nan_and_infinity_are_named_in_the_message() -> None:
    for body in (b'{"a":NaN}', b'{"a": -Infinity}', b"[1,Infinity]"):
        with pytest.raises(msgspec.DecodeError) as caught:
            msgspec.json.decode(body)
        err = malformed(caught.value, body)
        assert err.code == "malformed_json" and "NaN and Infinity" in err.message, body
    with pytest.raises(msgspec.DecodeError) as caught:
        msgspec.json.decode(b'{"a":1,}')
    assert "NaN" not in malformed(caught.value, b'{"a":1,}').message
