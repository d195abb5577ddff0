"""click's own error messages ("Missing option", "No such option", "Invalid value for" ...) in the current language.

Typer 0.29 runs on its own copy of click (typer._click) whose messages are plain English f-strings, not gettext
calls, so no gettext domain can reach them. They are translated where they are shown instead: the root command
(i18n/cli_help.py `TranslatedGroup`) hands every click error raised while parsing or running to `translate_error`,
which makes the error's `format_message` (what Typer's error panel prints) read the English text back against the
templates below, spelled exactly as Typer's click builds them (placeholders named after its variables, `!r` included),
and rebuild it from our catalogue. The panel's frame ("Error", "Usage:", "Try ... for help.", "Aborted.") is
translated in i18n/cli_help.py. English runs are left untouched; a text no template matches is shown as it is.

Values keep their own words (an option name, a command), except a nested message (`{message}`, a value pydantic
rejected: its error type through i18n/validation.py) and the path kind (`{label}`: file, dir, path).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from i18n import DEFAULT_LANGUAGE, N_, _, current_language, translations, use_language

# Spelled as typer/_click (exceptions.py, parser.py, core.py) and typer (core.py, _coercion.py, _param_types.py) spell them.
TEMPLATES = (
    N_("Missing option {param_hint}."),
    N_("Missing argument {param_hint}."),
    N_("Missing parameter {param_hint}."),
    N_("Missing option {param_hint}. Choose from:\n\t{choices_str}"),
    N_("Missing argument {param_hint}. Choose from:\n\t{choices_str}"),
    N_("Missing parameter: {param_name}"),
    N_("Missing command."),
    N_("Invalid value for {hint}: {message}"),
    N_("Invalid value: {message}"),
    N_("No such option: {option_name}"),
    N_("No such option: {option_name} (Possible options: {possibility_str})"),
    N_("No such command {name!r}."),
    N_("No such command {name!r}. Did you mean {suggestions}?"),
    N_("Got unexpected extra argument(s) ({extra_args})"),
    N_("Option {option_name!r} requires an argument."),
    N_("Option {option_name!r} requires {nargs} arguments."),
    N_("Option {opt!r} does not take a value."),
    N_("Argument {dest!r} takes {nargs} values."),
    N_("Value must be an iterable."),
    N_("Value {value!r} is not a valid {label}."),
    N_("{label} {filename!r} does not exist."),
    N_("{label} {loc} is a file."),
    N_("{label} {loc} is a directory."),
    N_("{label} {loc} is not readable."),
    N_("{label} {loc} is not writable."),
)
# The path kinds Typer names in {label}.
PATH_KINDS = (N_("file"), N_("dir"), N_("path"))
_TRANSLATED_VALUES = ("message", "label")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(![rsa])?\}")
_DONE = "_healthsilk_translated"


def translate_error(error: Any) -> None:
    """Makes a click error print in the current language (idempotent; nothing to do in English)."""
    language = current_language()
    if language == DEFAULT_LANGUAGE or getattr(error, _DONE, False) or type(error).__name__ == "NoArgsIsHelpError":
        return
    english = error.format_message
    cause = _rejected_value(error)

    def format_message() -> str:
        with use_language(language):  # the language chosen for the run, whatever context prints it
            return translate_message(english(), cause)

    error.format_message = format_message
    setattr(error, _DONE, True)


def _rejected_value(error: Any) -> str | None:
    """Typer checks values with pydantic and shows its English `msg`: our words for its error type instead."""
    errors = getattr(error.__cause__, "errors", None)
    if not callable(errors) or type(error.__cause__).__name__ != "ValidationError":
        return None
    from i18n.validation import validation_message

    found = errors()
    return validation_message(found[0]) if found else None


def translate_message(english: str, message: str | None = None) -> str:
    """One of click's messages in the current language (`message`: the nested message already in words)."""
    for template, pattern, names in _patterns():
        found = pattern.fullmatch(english)
        if found is None:
            continue
        values = {name: found.group(name) for name in names}
        for name in _TRANSLATED_VALUES:
            if name in values:
                values[name] = message if (name == "message" and message) else translate_message(values[name])
        return _fill(_(template), values)
    return translations(current_language()).gettext(english) if english else english


def _fill(text: str, values: dict[str, str]) -> str:
    """Plain replacement, `{name!r}` too: the values (option names, file names) are already as click shows them."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)


@cache
def _patterns() -> list[tuple[str, re.Pattern[str], list[str]]]:
    """(template, pattern with a named group per placeholder, names), the most specific first: those opening with
    words before those opening with a value ("{label} ..." could swallow "Invalid value for ...: file ..."), then
    the longest literal text."""
    compiled = []
    for template in TEMPLATES:
        names: list[str] = []
        pattern = ""
        for index, piece in enumerate(_PLACEHOLDER.split(template)):
            if index % 3 == 0:
                pattern += re.escape(piece)
            elif index % 3 == 1:
                names.append(piece)
                pattern += f"(?P<{piece}>.+?)"
        compiled.append((template, re.compile(pattern, re.DOTALL), names))
    return sorted(compiled, key=lambda item: (item[0].startswith("{"), -len(_PLACEHOLDER.sub("", item[0]))))
