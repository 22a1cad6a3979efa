"""Reading dates and times as people and systems write them, in the right time zone.

Two zones matter: the one a time written without an offset was meant in (the input
zone: a form in Berlin sends "2024-07-01 10:00" meaning Berlin time) and the one the
target expects (the output zone: which calendar day "23:30 in New York" is depends on
where it is read). Both default to UTC, which is what most APIs use.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflows.engine.values import TransformError, describe_kind, show

# Tried in order after the user's own formats; "%m/%d/%Y" or "%d/%m/%Y" goes first.
_DATE_FORMATS = (
    "%Y%m%d",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
)
_TIME_FORMATS = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
_EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)
# strptime directives a user format may use. Locale-dependent ones (%c, %x, %X) and %Z
# (which only knows a few zone names) would parse differently from one server to another.
_FORMAT_DIRECTIVES = frozenset("aAbBdHIjmMpSfyYz%")
_ALLOWED = frozenset(f"%{code}" for code in _FORMAT_DIRECTIVES)
_TIME_DIRECTIVES = frozenset("HIMSpfz")

ValueStep = Callable[[Any], Any]


def zone(name: str) -> tzinfo:
    """The zone called `name`; UTC as the fast built-in singleton."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TransformError(f"{show(name)} is not a known time zone (use e.g. Europe/Berlin)") from None


def check_zone(name: str) -> str | None:
    """What is wrong with a time zone name, or None."""
    try:
        zone(name)
    except TransformError as error:
        return error.message
    return None


def _directives(date_format: str) -> list[str]:
    """The codes after each % of a strptime format ("%%" is a literal percent); "" for a lone %."""
    codes = []
    position = 0
    while position < len(date_format):
        if date_format[position] == "%":
            codes.append(date_format[position + 1 : position + 2])
            position += 2
        else:
            position += 1
    return codes


def check_formats(formats: Sequence[str]) -> list[str]:
    """Problems with user-given strptime formats, each naming the format."""
    problems = []
    for text in formats:
        codes = _directives(text)
        unknown = sorted({f"%{code}" if code else "a lone %" for code in codes} - _ALLOWED)
        if unknown:
            problems.append(f"format {show(text)} uses unsupported codes: {', '.join(unknown)}")
        elif not any(code != "%" for code in codes):
            problems.append(f"format {show(text)} has no date codes (e.g. %d/%m/%Y)")
    return problems


def _from_epoch(amount: float, unit: str, original: Any) -> datetime:
    try:
        if unit == "s":
            return _EPOCH_START + timedelta(seconds=amount)
        return _EPOCH_START + timedelta(milliseconds=amount)
    except (OverflowError, ValueError):
        raise TransformError(f"{show(original)} is out of the range of dates") from None


def _with_format(text: str, formats: Sequence[str]) -> date | datetime | None:
    for date_format in formats:
        try:
            parsed = datetime.strptime(text, date_format)
        except ValueError:
            continue
        has_time = not _TIME_DIRECTIVES.isdisjoint(_directives(date_format))
        return parsed if has_time else parsed.date()
    return None


def parse_moment(
    value: Any, day_first: bool = False, epoch_unit: str = "ms", formats: Sequence[str] = ()
) -> date | datetime | None:
    """Read a date or a date-time; a date-only input stays a `date` so no time is invented.

    A datetime without an offset is returned naive: the caller knows which zone it meant.
    """
    if not isinstance(value, str):
        if value is None or isinstance(value, date):  # datetime is a subclass of date
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TransformError(f"expected a date, not {describe_kind(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise TransformError(f"{show(value)} is not a date")
        return _from_epoch(value, epoch_unit, value)
    text = value.strip()
    if not text:
        return None
    # The user's formats go first: they know their source better than our guesses.
    if formats:
        parsed = _with_format(text, formats)
        if parsed is not None:
            return parsed
    # Character checks rather than regexes: this runs per record and regexes cost more here.
    if len(text) >= 10 and text[4] == "-" and text[7] == "-" and text[:4].isdigit():
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise TransformError(f"{show(value)} is not a valid date") from None
    digits = text.removeprefix("-")
    if len(digits) > 8 and digits.isascii() and digits.isdigit():
        if len(digits) > 20:  # also keeps int() away from its limit on huge digit strings
            raise TransformError(f"{show(value)} is out of the range of dates")
        return _from_epoch(int(text), epoch_unit, value)
    slash = "%d/%m/%Y" if day_first else "%m/%d/%Y"
    for date_format in (slash, *_DATE_FORMATS):
        for time_format in _TIME_FORMATS:
            try:
                parsed_moment = datetime.strptime(text, date_format + time_format)
            except ValueError:
                continue
            return parsed_moment if time_format else parsed_moment.date()
    hint = " or set the formats of this transform" if not formats else ""
    raise TransformError(f"{show(value)} is not a date (use e.g. 2024-03-31{hint})")


def _in_zone(moment: datetime, original: Any, input_zone: tzinfo, output_zone: tzinfo) -> datetime:
    try:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=input_zone)
        return moment.astimezone(output_zone)
    except (OverflowError, ValueError):
        raise TransformError(f"{show(original)} is out of the range of dates") from None


def convert_date(
    input_zone: tzinfo,
    output_zone: tzinfo,
    formats: Sequence[str],
    day_first: bool,
    epoch_unit: str,
    value: Any,
) -> Any:
    # The value comes last so a mapping binds the settings with functools.partial, which
    # calls straight in without an extra Python frame per record.
    moment = parse_moment(value, day_first, epoch_unit, formats)
    if moment is None:
        return None
    if isinstance(moment, datetime):
        # An instant is a day only somewhere: the day it is in the output zone.
        moment = _in_zone(moment, value, input_zone, output_zone).date()
    return moment.isoformat()


def _is_canonical_utc(value: Any) -> bool:
    """Already in the output form "YYYY-MM-DDTHH:MM:SSZ" (what most APIs send)."""
    if value.__class__ is not str or len(value) != 20 or value[19] != "Z" or value[10] != "T":
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return value[4] == value[7] == "-" and value[13] == value[16] == ":"


def convert_datetime(
    input_zone: tzinfo,
    output_zone: tzinfo,
    formats: Sequence[str],
    day_first: bool,
    epoch_unit: str,
    value: Any,
) -> Any:
    # The value comes last so a mapping binds the settings with functools.partial, which
    # calls straight in without an extra Python frame per record.
    # Formatting a datetime costs over a microsecond; input already in output form is returned.
    if output_zone is UTC and not formats and _is_canonical_utc(value):
        return value
    moment = parse_moment(value, day_first, epoch_unit, formats)
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    moment = _in_zone(moment, value, input_zone, output_zone)
    if output_zone is UTC:
        # One spelling of UTC for every output so unchanged records fingerprint the same;
        # slicing off "+00:00" is several times cheaper than replace(tzinfo=None).
        return moment.isoformat()[:-6] + "Z"
    return moment.isoformat()


def _date_step(
    input_zone: tzinfo, output_zone: tzinfo, formats: tuple[str, ...], day_first: bool, epoch_unit: str
) -> ValueStep:
    convert = functools.partial(convert_date, input_zone, output_zone, formats, day_first, epoch_unit)
    if formats:  # the user's formats may read ISO-shaped text differently
        return convert

    def run(value: Any) -> Any:
        # Most sources already send ISO dates: checked by shape and by date.fromisoformat
        # (which rejects anything but ASCII digits there), the text is already the output.
        if value.__class__ is str and len(value) == 10 and value[4] == "-" and value[7] == "-":
            try:
                date.fromisoformat(value)
            except ValueError:
                raise TransformError(f"{show(value)} is not a valid date") from None
            return value
        return convert(value)

    return run


def to_date(
    value: Any,
    /,
    input_timezone: str = "UTC",
    output_timezone: str = "UTC",
    formats: Sequence[str] = (),
    day_first: bool = False,
    epoch_unit: str = "ms",
) -> Any:
    step = _date_step(zone(input_timezone), zone(output_timezone), tuple(formats), day_first, epoch_unit)
    return step(value)


def to_datetime(
    value: Any,
    /,
    input_timezone: str = "UTC",
    output_timezone: str = "UTC",
    formats: Sequence[str] = (),
    day_first: bool = False,
    epoch_unit: str = "ms",
) -> Any:
    return convert_datetime(
        zone(input_timezone), zone(output_timezone), tuple(formats), day_first, epoch_unit, value
    )


def check_date_args(args: Mapping[str, Any]) -> list[str]:
    problems = [
        problem
        for name in ("input_timezone", "output_timezone")
        if (problem := check_zone(args[name])) is not None
    ]
    return problems + check_formats(args["formats"])


def _settings(args: Mapping[str, Any]) -> tuple[tzinfo, tzinfo, tuple[str, ...], bool, str]:
    # Zones are looked up once per mapping, not once per record.
    input_zone, output_zone = zone(args["input_timezone"]), zone(args["output_timezone"])
    return input_zone, output_zone, tuple(args["formats"]), args["day_first"], args["epoch_unit"]


def prepare_to_date(args: Mapping[str, Any]) -> ValueStep:
    return _date_step(*_settings(args))


def prepare_to_datetime(args: Mapping[str, Any]) -> ValueStep:
    return functools.partial(convert_datetime, *_settings(args))
