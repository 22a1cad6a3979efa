"""Splitting a one-line postal address into street, city, region, postcode and country.

Web forms and older CRMs keep the whole address in one field; the systems we sync to want
the parts. Parsing is best effort over the common shapes, read from the end, where the
structure is (street first, then the locality, then the country):

    221B Baker Street, London NW1 6XE, United Kingdom      (UK: city then postcode)
    1600 Amphitheatre Pkwy, Mountain View, CA 94043, USA  (US/CA: city, then region and ZIP)
    Unter den Linden 1, 10117 Berlin, Germany             (most of Europe: postcode then city)

When the parts can't be told apart the transform fails the record with a message that
says how to write the address, rather than guessing and writing a wrong city.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from workflows.engine.values import TransformError, as_text, show

ADDRESS_PARTS = ("street", "city", "region", "postcode", "country")

# Lower-cased, without dots. Two-letter codes are deliberately absent except where they
# can't be a US state or Canadian province ("CA" is California as often as Canada).
_COUNTRIES = frozenset(
    """
    united kingdom|uk|gb|great britain|england|scotland|wales|northern ireland|
    united states|united states of america|usa|us|america|canada|mexico|brazil|argentina|chile|colombia|peru|
    germany|deutschland|france|spain|españa|portugal|italy|italia|netherlands|the netherlands|nederland|
    holland|belgium|belgië|belgique|luxembourg|switzerland|schweiz|suisse|austria|österreich|ireland|
    denmark|danmark|sweden|sverige|norway|norge|finland|suomi|iceland|poland|polska|czech republic|czechia|
    slovakia|hungary|romania|bulgaria|greece|croatia|slovenia|serbia|estonia|latvia|lithuania|ukraine|
    turkey|türkiye|israel|united arab emirates|uae|saudi arabia|qatar|egypt|south africa|nigeria|kenya|
    morocco|india|pakistan|china|hong kong|taiwan|japan|south korea|korea|singapore|malaysia|thailand|
    vietnam|indonesia|philippines|australia|new zealand
    """.replace("\n", "")
    .replace("    ", "")
    .split("|")
)

# Region + ZIP (US) or province + postal code (Canada), e.g. "CA 94043", "ON M5V 3L9".
_ZIP = r"\d{5}(?:-\d{4})?|[A-Z]\d[A-Z] ?\d[A-Z]\d"
_REGION_ZIP = re.compile(rf"(?P<region>[A-Z]{{2}})\.?\s+(?P<postcode>{_ZIP})")
_CITY_REGION_ZIP = re.compile(rf"(?P<city>\D+?),?\s+(?P<region>[A-Z]{{2}})\.?\s+(?P<postcode>{_ZIP})")
# Postcode before the city: DE/FR/ES/IT "10117 Berlin", NL "1012 AB Amsterdam", PL "00-950
# Warszawa", PT "1100-148 Lisboa", SE "111 22 Stockholm", with an optional "D-" prefix.
_EUROPEAN = r"\d{4} ?[A-Z]{2}(?=\s)|\d{2}-\d{3}|\d{4}-\d{3}|\d{3} \d{2}|(?:[A-Z]{1,2}-)?\d{4,5}"
_POSTCODE_CITY = re.compile(rf"(?P<postcode>{_EUROPEAN})\s+(?P<city>\D.*)")
# UK postcodes after the city, e.g. "London NW1 6XE" or just "NW1 6XE".
_UK = r"GIR ?0AA|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"
_CITY_UK = re.compile(rf"(?P<city>.*?)[\s,]*(?P<postcode>{_UK})", re.IGNORECASE)
# Number after the city, e.g. "Singapore 018956", "Berlin 10117".
_CITY_NUMBER = re.compile(r"(?P<city>\D+?)\s+(?P<postcode>\d{4,6})")
_ONLY_POSTCODE = re.compile(rf"{_ZIP}|{_EUROPEAN}|\d{{4,6}}")
_REGION = re.compile(r"[A-Z]{2}")
_SEPARATORS = re.compile(r"\s*[,;\n]\s*")

_HOW_TO_WRITE = "write it as 'street, city postcode, country'"
# Real addresses are far shorter; the cap also bounds the regexes' work on pasted text.
_LONGEST = 300


@dataclass(frozen=True)
class Address:
    street: str | None = None
    city: str | None = None
    region: str | None = None
    postcode: str | None = None
    country: str | None = None


def _is_country(text: str) -> bool:
    return text.replace(".", "").strip().casefold() in _COUNTRIES


def _uk_postcode(text: str) -> str:
    # "nw16xe" and "NW1 6XE" are the same postcode; the inward code is always 3 characters.
    compact = text.replace(" ", "").upper()
    return f"{compact[:-3]} {compact[-3:]}"


def _locality(segments: list[str]) -> tuple[int, str | None, str | None, str | None] | None:
    """Read city, region and postcode from the last segment (or the last few).

    Returns (index of the first segment that is not street, city, region, postcode), or
    None when the last segment isn't any shape we know.
    """
    last = len(segments) - 1
    text = segments[last]
    previous = segments[last - 1] if last >= 1 else None
    if match := _REGION_ZIP.fullmatch(text):
        return last - 1 if previous is not None else last, previous, match["region"], match["postcode"]
    if match := _CITY_REGION_ZIP.fullmatch(text):
        return last, match["city"], match["region"], match["postcode"]
    if match := _POSTCODE_CITY.fullmatch(text):
        return last, match["city"], None, match["postcode"]
    if match := _CITY_UK.fullmatch(text):
        city = match["city"].strip() or None
        if city is None and previous is not None:
            return last - 1, previous, None, _uk_postcode(match["postcode"])
        return last, city, None, _uk_postcode(match["postcode"])
    if match := _CITY_NUMBER.fullmatch(text):
        return last, match["city"], None, match["postcode"]
    if _ONLY_POSTCODE.fullmatch(text) and previous is not None:
        # "Mountain View, CA, 94043": the region may stand alone before the ZIP.
        if _REGION.fullmatch(previous) and last >= 2:
            return last - 2, segments[last - 2], previous, text
        return last - 1, previous, None, text
    if not any(char.isdigit() for char in text):
        # "Mountain View, CA": a state or province code alone after the city.
        if _REGION.fullmatch(text) and previous is not None:
            return last - 1, previous, text, None
        return last, text, None, None
    return None


def parse_address(text: str) -> Address:
    """Split one address; TransformError when the parts can't be told apart."""
    if len(text) > _LONGEST:
        raise TransformError(f"{show(text)} is too long to be a postal address")
    segments = [" ".join(part.split()) for part in _SEPARATORS.split(text)]
    segments = [part for part in segments if part]
    country = segments.pop() if segments and _is_country(segments[-1]) else None
    if not segments:
        return Address(country=country)
    found = _locality(segments)
    if found is None:
        raise TransformError(f"can't find the city and postcode in {show(segments[-1])}; {_HOW_TO_WRITE}")
    first, city, region, postcode = found
    if first == 0 and region is None and postcode is None and country is None:
        # "London" or "Baker Street" alone: a street or a city, and nothing says which.
        raise TransformError(f"can't tell the parts of {show(text)} apart; {_HOW_TO_WRITE}")
    if city is not None and any(char.isdigit() for char in city):
        # Cities don't have house numbers: the street and the city ran together.
        raise TransformError(
            f"can't tell where the street ends and the city starts in {show(text)};"
            " separate them with a comma"
        )
    street = ", ".join(segments[:first]) or None
    return Address(street, city.strip() if city else None, region, postcode, country)


def split_address(value: Any, /, part: str = "street") -> Any:
    if value is None:
        return None
    if part not in ADDRESS_PARTS:
        raise TransformError(f"{show(part)} is not a part of an address ({', '.join(ADDRESS_PARTS)})")
    text = as_text(value, "split_address")
    if not text.strip():
        return None
    return getattr(parse_address(text), part)
