"""Monitor specs: defaults, JSON round trip, and errors that name the field with a code."""

from __future__ import annotations

import pytest

from pipeline.monitors import MonitorError, MonitorSpec, Resolution, Sensitivity, parse_monitor
from pipeline.monitors._runner import SETTLE_S
from pipeline.monitors._spec import MAX_SILENCE_MINUTES, MIN_SILENCE_MINUTES


def test_defaults_and_json_round_trip() -> None:
    spec = parse_monitor('{"app_id": "shop"}')
    assert (spec.kind, spec.metric, spec.resolution, spec.sensitivity) == (
        "anomaly", "events", Resolution.HOUR, Sensitivity.MEDIUM)
    assert spec.silence_minutes == 60 and spec.destination_ids == ()
    full = MonitorSpec(app_id="shop", metric="sum", property="cart.total", event_type="purchase",
                       breakdown={"key": "a-b.$c", "value": "pro"}, resolution=Resolution.DAY,
                       sensitivity=Sensitivity.HIGH, destination_ids=("d1", "d2"))
    assert parse_monitor(full.model_dump_json()) == full
    assert parse_monitor(full.model_dump(mode="json")) == full
    with pytest.raises(Exception):  # noqa: B017 - frozen: pydantic's own error
        full.app_id = "news"  # type: ignore[misc]


@pytest.mark.parametrize(("data", "code", "field"), [
    ({"app_id": "Shop!"}, "bad_app_id", "app_id"),
    ({}, "missing_key", "app_id"),
    ({"app_id": "shop", "extra": 1}, "unknown_key", "extra"),
    ({"app_id": "shop", "metric": "median"}, "bad_value", "metric"),
    ({"app_id": "shop", "metric": "sum"}, "bad_metric", "property"),
    ({"app_id": "shop", "property": "x"}, "bad_metric", "property"),
    ({"app_id": "shop", "metric": "sum", "property": "a..b"}, "bad_property", "property"),
    ({"app_id": "shop", "metric": "sum", "property": "a.b.c.d.e"}, "bad_property", "property"),
    ({"app_id": "shop", "metric": "sum", "property": "a'b"}, "bad_property", "property"),
    ({"app_id": "shop", "metric": "sum", "property": "x" * 201}, "bad_property", "property"),
    ({"app_id": "shop", "breakdown": {"key": "plan"}}, "missing_key", "breakdown.value"),
    ({"app_id": "shop", "breakdown": {"key": "p\"", "value": "x"}}, "bad_property",
     "breakdown.key"),
    ({"app_id": "shop", "resolution": "week"}, "bad_value", "resolution"),
    ({"app_id": "shop", "sensitivity": "max"}, "bad_value", "sensitivity"),
    ({"app_id": "shop", "event_type": ""}, "bad_value", "event_type"),
    ({"app_id": "shop", "silence_minutes": 0}, "silence_too_short", "silence_minutes"),
    ({"app_id": "shop", "kind": "no_events", "silence_minutes": MIN_SILENCE_MINUTES - 1},
     "silence_too_short", "silence_minutes"),
    ({"app_id": "shop", "silence_minutes": MAX_SILENCE_MINUTES + 1}, "bad_value",
     "silence_minutes"),
    ({"app_id": "shop", "silence_minutes": "30"}, "bad_value", "silence_minutes"),
    ({"app_id": "shop", "destination_ids": [""]}, "bad_value", "destination_ids[0]"),
    ({"app_id": "shop", "kind": "no_events", "event_type": "x"}, "bad_no_events", "kind"),
    ("{not json", "invalid_json", "monitor"),
    ("[" * 100_000, "invalid_json", "monitor"),  # too deep: refused, not a RecursionError
])
def test_bad_specs_name_the_field(data: object, code: str, field: str) -> None:
    with pytest.raises(MonitorError) as caught:
        parse_monitor(data)
    error = caught.value
    assert (error.code, error.facts["field"]) == (code, field)
    assert error.hint and error.message.startswith(field)


def test_a_silence_outlasts_the_runners_settle_delay() -> None:
    """A silence shorter than the ingest delay the runner trusts would be normal lag."""
    assert MIN_SILENCE_MINUTES * 60 >= 2 * SETTLE_S
    spec = parse_monitor({"app_id": "shop", "kind": "no_events",
                          "silence_minutes": MIN_SILENCE_MINUTES})
    assert spec.silence_minutes == MIN_SILENCE_MINUTES
