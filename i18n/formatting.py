"""Dates, numbers and money in the current language (Babel): what people read in the CLI and the reports.

Money is always shown in currency units with its ISO code ("1,200.00 CNY", "1 200,00 CNY", "1,200.00 CNY"),
never as the ledger's minor units: the code, not a symbol, because ¥ is both CNY and JPY in cross-border care.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.dates import format_time as _babel_time
from babel.numbers import format_currency, format_decimal, format_percent, get_currency_precision

from i18n import current_language

# English keeps the ISO form the CLI has always printed (unambiguous for every reader, sortable in scripts).
_ISO_DATE = "%Y-%m-%d"


def babel_locale(language: str | None = None) -> Locale:
    return Locale.parse(language or current_language())


def _utc(timestamp: int | float) -> datetime:
    return datetime.fromtimestamp(int(timestamp), tz=timezone.utc)


def date_text(timestamp: int | float) -> str:
    """A unix time's UTC day: 2026-12-07 / 7 déc. 2026 / 2026年12月7日."""
    moment = _utc(timestamp)
    if current_language() == "en":
        return moment.strftime(_ISO_DATE)
    return _babel_date(moment.date(), "medium", locale=babel_locale())


def datetime_text(timestamp: int | float) -> str:
    """A unix time in UTC to the minute: 2026-12-07 04:26 UTC / 7 déc. 2026 04:26 UTC / 2026年12月7日 04:26 UTC."""
    moment = _utc(timestamp)
    clock = _babel_time(moment, "HH:mm", tzinfo=timezone.utc, locale=babel_locale())
    return f"{date_text(timestamp)} {clock} UTC"


def number_text(value: int | float | Decimal) -> str:
    """1200 -> 1,200 / 1 200 / 1,200."""
    return format_decimal(value, locale=babel_locale())


def decimal_text(value: int | float | Decimal, digits: int = 1) -> str:
    """A measure with `digits` decimals: 1.25 -> 1.3 / 1,3 / 1.3."""
    return format_decimal(value, format="#,##0." + "0" * digits if digits else "#,##0", locale=babel_locale())


def percent_text(share: float) -> str:
    """A share as a percentage: 0.5 -> 50% / 50 % / 50%."""
    return format_percent(share, locale=babel_locale())


def minor_units_to_amount(minor_units: int, currency: str) -> Decimal:
    """120000 CNY minor units -> Decimal("1200.00") (ISO 4217 precision from CLDR: 0 for XOF and JPY)."""
    return Decimal(int(minor_units)).scaleb(-get_currency_precision(currency))


def money_text(minor_units: int, currency: str) -> str:
    """The ledger's minor units as money in the current language: 120000 CNY -> 1,200.00 CNY / 1 200,00 CNY."""
    amount = minor_units_to_amount(minor_units, currency)
    return format_currency(amount, currency, format="#,##0.00 ¤¤", locale=babel_locale(), currency_digits=True)
