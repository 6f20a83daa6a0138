"""Dashboard filters: the URL round trip and their errors."""

from __future__ import annotations

from datetime import date

import pytest

from tests.workspace.events_fixture import TENANT
from workspace.errors import FilterError
from workspace.filters import Filters

OCT = {d: date(2026, 10, d) for d in range(1, 32)}


@pytest.mark.parametrize("filters", [
    Filters(),
    Filters(start=OCT[5]),
    Filters(end=OCT[7]),
    Filters(start=OCT[5], end=OCT[5]),
    Filters(start=OCT[5], end=OCT[21], app_id=TENANT),
    Filters(app_id="app_b-2"),
])
def test_filters_round_trip_through_the_query_string(filters: Filters) -> None:
    params = filters.to_params()
    assert all(isinstance(v, str) and v for v in params.values())
    assert Filters.from_params(params) == filters


def test_only_what_is_set_goes_into_the_url() -> None:
    assert Filters().to_params() == {}
    assert Filters(start=OCT[5], app_id=TENANT).to_params() == {"from": "2026-10-05",
                                                                 "app": TENANT}


def test_empty_parameters_mean_no_filter() -> None:
    assert Filters.from_params({"from": "", "to": "", "app": ""}) == Filters()


@pytest.mark.parametrize(("params", "name"), [
    ({"from": "2026-13-01"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2026-10-05", "to": "2026-02-30"}, "to"),
    ({"from": "1' OR '1'='1"}, "from"),
])
def test_a_bad_date_is_a_filter_error_naming_the_parameter(params: dict[str, str],
                                                            name: str) -> None:
    with pytest.raises(FilterError) as caught:
        Filters.from_params(params)
    assert caught.value.code == "bad_filter"
    assert caught.value.message.startswith(f"{name}=")
    assert caught.value.hint == "use YYYY-MM-DD"


def test_a_long_bad_date_is_quoted_short() -> None:
    with pytest.raises(FilterError) as caught:
        Filters.from_params({"from": "x" * 5000})
    assert len(caught.value.message) < 100


def test_a_reversed_range_is_a_filter_error() -> None:
    with pytest.raises(FilterError) as caught:
        Filters.from_params({"from": "2026-10-07", "to": "2026-10-05"})
    assert caught.value.code == "bad_filter"
    assert "2026-10-07" in caught.value.message and caught.value.hint == "swap the dates"
    with pytest.raises(FilterError):
        Filters(start=OCT[7], end=OCT[5])


@pytest.mark.parametrize("app", ["Shop", "shop'; DROP TABLE events; --", "../shop", "-shop",
                                 "a" * 64])
def test_a_bad_app_id_is_a_filter_error(app: str) -> None:
    with pytest.raises(FilterError) as caught:
        Filters.from_params({"app": app})
    assert caught.value.code == "bad_app_id"
    assert caught.value.hint
