from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine.addresses import ADDRESS_PARTS, Address, parse_address
from workflows.engine.transforms import TransformError, split_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "221B Baker Street, London NW1 6XE, United Kingdom",
            Address("221B Baker Street", "London", None, "NW1 6XE", "United Kingdom"),
        ),
        (
            "1600 Amphitheatre Pkwy, Mountain View, CA 94043, USA",
            Address("1600 Amphitheatre Pkwy", "Mountain View", "CA", "94043", "USA"),
        ),
        (
            "Unter den Linden 1, 10117 Berlin, Germany",
            Address("Unter den Linden 1", "Berlin", None, "10117", "Germany"),
        ),
        ("10 Downing Street, London, SW1A 2AA", Address("10 Downing Street", "London", None, "SW1A 2AA")),
        (
            "Flat 2, 221B Baker Street, London, nw16xe",
            Address("Flat 2, 221B Baker Street", "London", None, "NW1 6XE"),
        ),
        (
            "301 Front St W, Toronto, ON M5V 2T6, Canada",
            Address("301 Front St W", "Toronto", "ON", "M5V 2T6", "Canada"),
        ),
        (
            "Dam 1, 1012 JS Amsterdam, The Netherlands",
            Address("Dam 1", "Amsterdam", None, "1012 JS", "The Netherlands"),
        ),
        (
            "55 Rue du Faubourg Saint-Honoré, 75008 Paris, France",
            Address("55 Rue du Faubourg Saint-Honoré", "Paris", None, "75008", "France"),
        ),
        (
            "ul. Marszałkowska 1, 00-950 Warszawa, Poland",
            Address("ul. Marszałkowska 1", "Warszawa", None, "00-950", "Poland"),
        ),
        ("1 Main St, Springfield, IL", Address("1 Main St", "Springfield", "IL")),
        (
            "1600 Amphitheatre Pkwy, Mountain View, CA, 94043",
            Address("1600 Amphitheatre Pkwy", "Mountain View", "CA", "94043"),
        ),
        ("1 Main St\nSpringfield\nIL 62701", Address("1 Main St", "Springfield", "IL", "62701")),
        ("London, U.K.", Address(None, "London", None, None, "U.K.")),
        ("Germany", Address(country="Germany")),
        (
            "  221B   Baker Street ,  London  NW1 6XE ",
            Address("221B Baker Street", "London", None, "NW1 6XE"),
        ),
    ],
)
def test_common_one_line_addresses_are_split(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("London", "can't tell the parts of 'London' apart; write it as 'street, city postcode, country'"),
        ("221B Baker Street", "can't find the city and postcode in '221B Baker Street'"),
        ("Baker Street, London 1", "can't find the city and postcode in 'London 1'"),
        (
            "221B Baker Street London NW1 6XE",
            "can't tell where the street ends and the city starts in '221B Baker Street London NW1 6XE';"
            " separate them with a comma",
        ),
        ("1600 Amphitheatre Pkwy Mountain View CA 94043", "separate them with a comma"),
    ],
)
def test_addresses_whose_parts_cannot_be_told_apart_fail_with_advice(text: str, message: str) -> None:
    with pytest.raises(TransformError) as caught:
        parse_address(text)
    assert message in caught.value.message


def test_split_address_takes_one_part() -> None:
    text = "1600 Amphitheatre Pkwy, Mountain View, CA 94043, USA"
    assert [split_address(text, part=part) for part in ADDRESS_PARTS] == [
        "1600 Amphitheatre Pkwy",
        "Mountain View",
        "CA",
        "94043",
        "USA",
    ]


def test_a_missing_part_is_empty_not_an_error() -> None:
    assert split_address("10 Downing Street, London, SW1A 2AA", part="country") is None
    assert split_address("", part="city") is None
    assert split_address(None, part="city") is None


def test_split_address_refuses_lists_and_unknown_parts() -> None:
    with pytest.raises(TransformError, match="split_address expects text, not a list"):
        split_address(["1 Main St"], part="city")
    with pytest.raises(TransformError, match="'town' is not a part of an address"):
        split_address("1 Main St, Springfield, IL", part="town")


def test_pasted_essays_are_refused_quickly() -> None:
    with pytest.raises(TransformError, match="too long to be a postal address"):
        split_address("Main Street, " * 100, part="city")


# --- round trips ------------------------------------------------------------------------------

words = st.sampled_from(["Baker", "High", "Mill", "Church", "Station", "Park", "Linden", "Oak"])
kinds = st.sampled_from(["Street", "Road", "Lane", "Avenue", "Pkwy", "Way"])
streets = st.builds(lambda number, word, kind: f"{number} {word} {kind}", st.integers(1, 999), words, kinds)
cities = st.lists(
    st.sampled_from(["London", "New", "York", "Mountain", "View", "Bad", "Homburg", "Saint-Malo"]),
    min_size=1,
    max_size=2,
).map(" ".join)
uk_postcodes = st.sampled_from(["NW1 6XE", "SW1A 2AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT"])
zips = st.builds(lambda n: f"{n:05d}", st.integers(1000, 99999))
states = st.sampled_from(["CA", "NY", "TX", "WA", "IL"])
de_postcodes = st.builds(lambda n: f"{n:05d}", st.integers(1067, 99998))


@settings(max_examples=200, deadline=None)
@given(
    street=streets,
    city=cities,
    postcode=uk_postcodes,
    country=st.sampled_from(["United Kingdom", "UK", None]),
)
def test_uk_addresses_round_trip(street: str, city: str, postcode: str, country: str | None) -> None:
    text = f"{street}, {city} {postcode}" + (f", {country}" if country else "")
    assert parse_address(text) == Address(street, city, None, postcode, country)


@settings(max_examples=200, deadline=None)
@given(
    street=streets,
    city=cities,
    state=states,
    zip_code=zips,
    country=st.sampled_from(["USA", "United States", None]),
)
def test_us_addresses_round_trip(
    street: str, city: str, state: str, zip_code: str, country: str | None
) -> None:
    text = f"{street}, {city}, {state} {zip_code}" + (f", {country}" if country else "")
    assert parse_address(text) == Address(street, city, state, zip_code, country)


@settings(max_examples=200, deadline=None)
@given(
    street=streets,
    city=cities,
    postcode=de_postcodes,
    country=st.sampled_from(["Germany", "Deutschland", None]),
)
def test_german_addresses_round_trip(street: str, city: str, postcode: str, country: str | None) -> None:
    text = f"{street}, {postcode} {city}" + (f", {country}" if country else "")
    assert parse_address(text) == Address(street, city, None, postcode, country)


@settings(max_examples=500, deadline=None)
@given(
    text=st.text(max_size=120)
    | st.lists(
        st.sampled_from(["1", "A", " ", ",", "Street", "NW1 6XE", "CA", "94043", "\n"]), max_size=12
    ).map("".join)
)
def test_any_text_gives_parts_or_a_transform_error(text: str) -> None:
    result: Address | str
    try:
        result = parse_address(text)
    except TransformError as error:
        result = error.message
    if isinstance(result, str):
        assert result.strip()
        return
    for part in ADDRESS_PARTS:
        value = getattr(result, part)
        assert value is None or (value.strip() and value == value.strip())
