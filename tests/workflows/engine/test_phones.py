from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine.transforms import TransformError, to_phone_e164


@pytest.mark.parametrize(
    ("number", "region", "expected"),
    [
        ("020 7946 0958", "GB", "+442079460958"),
        ("(020) 7946-0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958", None, "+442079460958"),
        ("+1 (650) 253-0000", "GB", "+16502530000"),
        ("650-253-0000", "US", "+16502530000"),
        ("030 1234567", "DE", "+49301234567"),
        ("+44 20 7946 0958 ext. 123", "GB", "+442079460958"),
        (6502530000, "US", "+16502530000"),
        ("  ", "GB", None),
        (None, "GB", None),
    ],
)
def test_numbers_are_written_in_e164(number: object, region: str | None, expected: str | None) -> None:
    assert to_phone_e164(number, default_region=region) == expected


@pytest.mark.parametrize(
    ("number", "region", "message"),
    [
        ("12", "GB", "'12' is not a valid phone number for GB"),
        ("call me", "GB", "'call me' is not a valid phone number for GB"),
        ("+1 555", "GB", "'+1 555' is not a valid phone number"),
        (
            "020 7946 0958",
            None,
            "'020 7946 0958' has no country code; start it with + or set a default region",
        ),
    ],
)
def test_invalid_numbers_fail_the_record_with_a_readable_message(
    number: str, region: str | None, message: str
) -> None:
    with pytest.raises(TransformError) as caught:
        to_phone_e164(number, default_region=region)
    assert caught.value.message == message


def test_lists_are_refused() -> None:
    with pytest.raises(TransformError, match="to_phone_e164 expects text, not a list"):
        to_phone_e164(["+44 20 7946 0958"])


@settings(max_examples=300, deadline=None)
@given(
    value=st.text(alphabet="0123456789+-() .xet", max_size=25) | st.text(max_size=30),
    region=st.sampled_from([None, "GB", "US", "DE", "IN"]),
)
def test_any_text_gives_an_e164_number_that_reads_back_the_same_or_a_transform_error(
    value: str, region: str | None
) -> None:
    try:
        result = to_phone_e164(value, default_region=region)
    except TransformError as error:
        result = None
        message = error.message
    else:
        message = "ok"
    assert message.strip()
    if result is not None:
        assert result.startswith("+") and result[1:].isdigit()
        # E.164 is a fixed point: converting it again changes nothing.
        assert to_phone_e164(result) == result
