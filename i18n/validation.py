"""Pydantic's validation messages in the current language.

Pydantic has no translations of its own: its error `type` codes (missing, string_pattern_mismatch, greater_than_equal,
...) and their `ctx` are stable, so each known type gets a message id here and its ctx values as placeholders. A type
not listed keeps pydantic's English `msg`; a custom validator's ValueError keeps its own text (ours goes through `_`
where it is raised).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from i18n import N_, _, current_language

# pydantic error type -> message id; the placeholders are the names pydantic puts in the error's ctx.
MESSAGES: dict[str, str] = {
    "missing": N_("required"),
    "extra_forbidden": N_("unknown field: not allowed here"),
    "json_invalid": N_("not valid JSON: {error}"),
    "json_type": N_("JSON input must be a string, bytes or bytearray"),
    "string_type": N_("must be a string"),
    "string_too_short": N_("must have at least {min_length} character(s)"),
    "string_too_long": N_("must have at most {max_length} character(s)"),
    "string_pattern_mismatch": N_("does not have the expected form (pattern {pattern})"),
    "string_unicode": N_("must be a valid Unicode string"),
    "int_type": N_("must be an integer"),
    "int_parsing": N_("must be an integer"),
    "int_from_float": N_("must be a whole number"),
    "float_type": N_("must be a number"),
    "float_parsing": N_("must be a number"),
    "finite_number": N_("must be a finite number"),
    "decimal_type": N_("must be a decimal number"),
    "decimal_parsing": N_("must be a decimal number"),
    "bool_type": N_("must be true or false"),
    "bool_parsing": N_("must be true or false"),
    "greater_than": N_("must be greater than {gt}"),
    "greater_than_equal": N_("must be greater than or equal to {ge}"),
    "less_than": N_("must be less than {lt}"),
    "less_than_equal": N_("must be less than or equal to {le}"),
    "multiple_of": N_("must be a multiple of {multiple_of}"),
    "too_short": N_("must have at least {min_length} item(s), not {actual_length}"),
    "too_long": N_("must have at most {max_length} item(s)"),
    "list_type": N_("must be a list"),
    "tuple_type": N_("must be a list"),
    "set_type": N_("must be a list of distinct values"),
    "dict_type": N_("must be an object"),
    "model_type": N_("must be an object"),
    "model_attributes_type": N_("must be an object"),
    "bytes_type": N_("must be bytes"),
    "literal_error": N_("must be one of: {expected}"),
    "enum": N_("must be one of: {expected}"),
    "url_type": N_("must be a URL"),
    "url_parsing": N_("must be a valid URL: {error}"),
    "url_scheme": N_("URL scheme must be one of: {expected_schemes}"),
    "uuid_type": N_("must be a UUID"),
    "uuid_parsing": N_("must be a valid UUID"),
    "date_type": N_("must be a date"),
    "date_parsing": N_("must be a date (YYYY-MM-DD)"),
    "date_from_datetime_parsing": N_("must be a date (YYYY-MM-DD)"),
    "datetime_type": N_("must be a date and time"),
    "datetime_parsing": N_("must be a date and time (ISO 8601)"),
    "datetime_from_date_parsing": N_("must be a date and time (ISO 8601)"),
    "union_tag_invalid": N_("{tag} is not one of the expected kinds: {expected_tags}"),
    "union_tag_not_found": N_("the field {discriminator} is required to tell which kind this is"),
    "assertion_error": N_("check failed: {error}"),
}

_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")


def _choices(expected: str) -> str:
    """pydantic's "'A', 'B' or 'C'" -> the quoted choices joined in the current language (no English "or")."""
    items = _QUOTED.findall(expected)
    if not items:
        return expected
    return ("、" if current_language() == "zh_Hans" else ", ").join(items)


def _value(key: str, value: Any) -> str:
    if key in ("expected", "expected_tags", "expected_schemes"):
        return _choices(str(value))
    return str(value)


def validation_message(error: Mapping[str, Any]) -> str:
    """One pydantic error (an item of `errors()`) as a human message in the current language."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    english = str(error.get("msg", ""))
    if kind == "value_error":
        # A validator's own words (raised through `_` in our code); pydantic prefixes "Value error, ".
        return str(ctx.get("error", english.removeprefix("Value error, ")))
    template = MESSAGES.get(kind)
    if template is None:
        return english
    values = {key: _value(key, value) for key, value in ctx.items()}
    try:
        return _(template).format(**values)
    except (KeyError, IndexError, ValueError):  # a pydantic version with other ctx names: its own words then
        return english
