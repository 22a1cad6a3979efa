from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine.dates import check_formats
from workflows.engine.mapping import compile_mapping
from workflows.engine.transforms import TRANSFORMS, TransformError, to_date, to_datetime


@pytest.mark.parametrize(
    ("given_value", "kwargs", "expected"),
    [
        # A time without an offset is read in the input zone (summer: Berlin is UTC+2).
        ("2024-07-01 10:00", {"input_timezone": "Europe/Berlin"}, "2024-07-01T08:00:00Z"),
        # ... and given in the output zone, with its offset.
        ("2024-07-01T08:00:00Z", {"output_timezone": "Europe/Berlin"}, "2024-07-01T10:00:00+02:00"),
        (
            "2024-01-15 09:30",
            {"input_timezone": "America/New_York", "output_timezone": "Asia/Kolkata"},
            "2024-01-15T20:00:00+05:30",
        ),
        # An explicit offset beats the input zone.
        ("2024-07-01T10:00:00+01:00", {"input_timezone": "Asia/Tokyo"}, "2024-07-01T09:00:00Z"),
        # Epoch timestamps are instants: no input zone applies.
        (1719828000000, {"input_timezone": "Asia/Tokyo"}, "2024-07-01T10:00:00Z"),
        # A date alone is midnight in the input zone.
        ("2024-07-01", {"input_timezone": "Europe/Berlin"}, "2024-06-30T22:00:00Z"),
        # The repeated hour at the end of summer time is read as its first occurrence.
        ("2024-10-27 02:30", {"input_timezone": "Europe/Berlin"}, "2024-10-27T00:30:00Z"),
    ],
)
def test_to_datetime_reads_in_the_input_zone_and_writes_in_the_output_zone(
    given_value: Any, kwargs: dict[str, Any], expected: str
) -> None:
    assert to_datetime(given_value, **kwargs) == expected


@pytest.mark.parametrize(
    ("given_value", "kwargs", "expected"),
    [
        # 23:30 in New York is the next day in UTC...
        ("2024-03-01 23:30", {"input_timezone": "America/New_York"}, "2024-03-02"),
        # ... but the same day when the target reads dates in New York time.
        (
            "2024-03-01 23:30",
            {"input_timezone": "America/New_York", "output_timezone": "America/New_York"},
            "2024-03-01",
        ),
        ("2024-03-01T01:00:00Z", {"output_timezone": "America/Los_Angeles"}, "2024-02-29"),
        # A date alone has no time to shift: zones don't move it.
        ("2024-03-01", {"input_timezone": "Asia/Tokyo", "output_timezone": "Pacific/Honolulu"}, "2024-03-01"),
        (1709251200000, {"output_timezone": "Asia/Tokyo"}, "2024-03-01"),
    ],
)
def test_to_date_gives_the_day_in_the_output_zone(
    given_value: Any, kwargs: dict[str, Any], expected: str
) -> None:
    assert to_date(given_value, **kwargs) == expected


def test_user_formats_are_tried_before_the_common_ones() -> None:
    # "03/04/2024" would be March 4 by the built-in US reading; the user says day first.
    assert to_date("03/04/2024", formats=["%d/%m/%Y"]) == "2024-04-03"
    assert to_date("2024-31-12", formats=["%Y-%d-%m"]) == "2024-12-31"
    assert to_datetime("31.12.24 18.45", formats=["%d.%m.%y %H.%M"]) == "2024-12-31T18:45:00Z"
    # A format with an offset gives an instant; the input zone then doesn't apply.
    assert (
        to_datetime("2024-07-01 10:00 +0200", formats=["%Y-%m-%d %H:%M %z"], input_timezone="Asia/Tokyo")
        == "2024-07-01T08:00:00Z"
    )


def test_common_formats_still_work_when_user_formats_do_not_match() -> None:
    assert to_date("2024-03-31", formats=["%d/%m/%Y"]) == "2024-03-31"


def test_a_value_matching_no_format_names_the_way_out() -> None:
    with pytest.raises(TransformError, match=r"is not a date .*set the formats of this transform"):
        to_date("31st of March")


def test_an_unknown_zone_used_directly_is_a_transform_error() -> None:
    with pytest.raises(TransformError, match="'Mars/Base' is not a known time zone"):
        to_datetime("2024-01-01", input_timezone="Mars/Base")


@pytest.mark.parametrize(
    ("formats", "problem"),
    [
        (["%d/%m/%Y"], None),
        (["%d/%m/%Y %H:%M %p", "%Y%m%d"], None),
        (["100%% %d"], None),
        (["%c"], "uses unsupported codes: %c"),
        (["%Z"], "uses unsupported codes: %Z"),
        (["%d %"], "uses unsupported codes: a lone %"),
        (["no codes"], "has no date codes"),
    ],
)
def test_formats_are_checked_before_use(formats: list[str], problem: str | None) -> None:
    problems = check_formats(formats)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


def test_a_mapping_binds_zones_and_formats_once() -> None:
    mapping = compile_mapping(
        {
            "fields": [
                {
                    "target": "when",
                    "source": "when",
                    "transforms": [
                        {
                            "name": "to_datetime",
                            "args": {"input_timezone": "Europe/London", "formats": ["%d/%m/%Y %H:%M"]},
                        }
                    ],
                }
            ]
        }
    )
    assert mapping.apply({"when": "01/07/2024 09:00"}).values == {"when": "2024-07-01T08:00:00Z"}
    assert mapping.apply({"when": "tomorrow"}).errors[0][0] == "when"


def test_the_registry_offers_both_zones_and_formats_for_both_date_transforms() -> None:
    for name in ("to_date", "to_datetime"):
        assert [arg.name for arg in TRANSFORMS[name].args][:3] == [
            "input_timezone",
            "output_timezone",
            "formats",
        ]


zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"])


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1900, 1, 2), max_value=datetime(2200, 12, 30), timezones=st.just(UTC)
    ),
    output_zone=zones,
)
def test_to_datetime_in_any_zone_names_the_same_instant(moment: datetime, output_zone: str) -> None:
    text = to_datetime(moment.isoformat(), output_timezone=output_zone)
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == moment


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 12, 30)),
    input_zone=zones,
    output_zone=zones,
)
def test_to_date_is_the_day_of_to_datetime(moment: datetime, input_zone: str, output_zone: str) -> None:
    zones_given = {"input_timezone": input_zone, "output_timezone": output_zone}
    text = moment.isoformat(sep=" ")
    assert to_date(text, **zones_given) == to_datetime(text, **zones_given)[:10]
