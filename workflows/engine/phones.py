"""Phone numbers in E.164 form ("+442079460958"), the one spelling every system accepts.

Numbers typed into forms come in national form ("020 7946 0958"), with spaces, dashes and
brackets; the default region says which country a number without "+" belongs to.
Validation uses Google's libphonenumber data (the `phonenumbers` package), so a number
of the wrong length for its country is refused instead of being written.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from workflows.engine.values import TransformError, as_text, show

REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)


def check_region(region: str | None) -> str | None:
    """What is wrong with a default region, or None."""
    if region is None or region in REGIONS:
        return None
    if region.upper() in REGIONS:
        return f"write the region in capitals: '{region.upper()}'"
    return f"{show(region)} is not a country code (use a two-letter code such as GB, US or DE)"


def to_phone_e164(value: Any, /, default_region: str | None = None) -> Any:
    if value is None:
        return None
    text = as_text(value, "to_phone_e164").strip()
    if not text:
        return None
    international = text.startswith("+")
    if default_region is not None and default_region not in REGIONS:
        raise TransformError(check_region(default_region) or "unknown region")
    if not international and default_region is None:
        raise TransformError(f"{show(value)} has no country code; start it with + or set a default region")
    where = "" if international else f" for {default_region}"
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException:
        raise TransformError(f"{show(value)} is not a valid phone number{where}") from None
    if not phonenumbers.is_valid_number(number):
        raise TransformError(f"{show(value)} is not a valid phone number{where}")
    # E.164 has no room for an extension ("ext. 12"); the number itself is what systems match on.
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)
