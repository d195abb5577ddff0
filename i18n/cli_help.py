"""`--help` in the current language, without touching the commands: their help texts stay English in the code
(`help="..."` and docstrings, extracted into the catalogue by i18n/extract.py) and are translated when the CLI runs.

`TranslatedGroup` is the root command's class (`typer.Typer(cls=TranslatedGroup)`). Before click parses anything it
resolves the language from the arguments (`--lang X` / `--lang=X`), then HEALTHSILK_LANG, then the locale, and passes
every help text of the command tree through `_`: `healthsilk --lang fr consent grant --help` is French even though
click prints the help while it parses, before any callback has run. Typer's own words (the panel titles "Options",
"Commands", "[required]" ...) and click's "--help" line and "Usage:" are translated too, and click's own messages
("Missing option", "No such option" ...) through i18n/click_messages.py.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

from typer import rich_utils
from typer._click.exceptions import (
    ClickException,  # Typer's own copy of click (typer==0.29 pinned)
)
from typer.core import TyperGroup

from i18n import (
    DEFAULT_LANGUAGE,
    N_,
    _,
    current_language,
    language_from_environment,
    set_language,
    translations,
)
from i18n.click_messages import translate_error
from i18n.extract import HELP_TEMPLATE_CONTEXT

HELP_OPTION = N_("Show this message and exit.")
# Typer's own options on the root command (shell completion), translated like every other help text.
TYPER_HELP = (
    N_("Install completion for the current shell."),
    N_("Show completion for the current shell, to copy it or customize the installation."),
)
USAGE = N_("Usage: ")
# typer.rich_utils' fixed strings, read by its help and error panels when they are drawn. Typer fills "{}"
# positionally; the message ids name their placeholder ({value}), which is turned back into "{}" when set.
TYPER_WORDS = {
    "DEPRECATED_STRING": N_("(deprecated) "),
    "DEFAULT_STRING": N_("[default: {value}]"),
    "ENVVAR_STRING": N_("[env var: {value}]"),
    "REQUIRED_LONG_STRING": N_("[{required}]"),
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "ERRORS_PANEL_TITLE": N_("Error"),
    "ABORTED_TEXT": N_("Aborted."),
    "RICH_HELP": N_("Try [blue]'{command_path} {help_option}'[/] for help."),
}
_ENGLISH = "_healthsilk_english"  # attribute keeping an object's English texts, so a second pass translates from them


def language_from_args(args: Sequence[str]) -> str | None:
    """The value of `--lang X` / `--lang=X` among the arguments (before a `--`), else None."""
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--lang" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
    return None


def commands(root: Any) -> Iterator[Any]:
    """The root command and every command and group below it."""
    yield root
    for sub in getattr(root, "commands", {}).values():
        yield from commands(sub)


def translate_help(root: Any) -> None:
    """Every help text of the tree in the current language (from the English kept on first pass)."""
    for rich_name, message in TYPER_WORDS.items():
        setattr(rich_utils, rich_name, _(message).replace("{value}", "{}").replace("{required}", _("required")))
    for command in commands(root):
        _translate(command, ("help", "short_help", "epilog"))
        for param in command.params:
            _translate(param, ("help",))
        if "get_help_option" not in vars(command):
            _translate_help_option(command)
            _translate_usage(command)


def _translate(obj: Any, attributes: tuple[str, ...]) -> None:
    english: dict[str, Any] = obj.__dict__.setdefault(_ENGLISH, {})
    for attribute in attributes:
        if attribute not in english:
            english[attribute] = getattr(obj, attribute, None)
        text = english[attribute]
        if isinstance(text, str) and text:
            setattr(obj, attribute, help_text(text))


def help_text(english: str) -> str:
    """One help text in the current language: its own id, else the f-string template it was made from, else English.

    Looked up without `_`: every run translates the whole tree, shown or not, and the missing-translation log
    (HEALTHSILK_I18N_MISSING_LOG) is for what a run shows; the catalogue tests check that every help text has one."""
    if current_language() == DEFAULT_LANGUAGE:
        return english
    translated = translations(current_language()).gettext(english)
    if translated != english:
        return translated
    for template, pattern, names in _templates(current_language()):
        found = pattern.fullmatch(english)
        if found:
            text = translations(current_language()).pgettext(HELP_TEMPLATE_CONTEXT, template)
            for name in names:  # plain replacement: the values (a list of codes, $VARIABLE) are not format strings
                text = text.replace("{" + name + "}", found.group(name))
            return text
    return english


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@cache
def _templates(language: str) -> list[tuple[str, re.Pattern[str], list[str]]]:
    """The catalogue's f-string help templates as (id, pattern with a named group per placeholder, names)."""
    prefix = HELP_TEMPLATE_CONTEXT + "\x04"
    found = []
    for key in getattr(translations(language), "_catalog", {}):
        if isinstance(key, str) and key.startswith(prefix):
            template = key[len(prefix):]
            names: list[str] = []
            pattern = ""
            for index, piece in enumerate(_PLACEHOLDER.split(template)):
                if index % 2 == 0:
                    pattern += re.escape(piece)
                elif piece in names:
                    pattern += f"(?P={piece})"
                else:
                    names.append(piece)
                    pattern += f"(?P<{piece}>.+?)"
            found.append((template, re.compile(pattern, re.DOTALL), names))
    return found


def _translate_help_option(command: Any) -> None:
    """click makes the --help option when the command first parses: translate it then (an instance-level wrapper)."""
    made = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = made(ctx)
        if option is not None:
            option.help = _(HELP_OPTION)
        return option

    command.get_help_option = get_help_option


def _translate_usage(command: Any) -> None:
    def format_usage(ctx: Any, formatter: Any) -> None:
        formatter.write_usage(ctx.command_path, " ".join(command.collect_usage_pieces(ctx)), prefix=_(USAGE))

    command.format_usage = format_usage


class TranslatedGroup(TyperGroup):
    """The root group: chooses the language from the arguments first, then translates the help of the whole tree."""

    def main(self, args: Sequence[str] | None = None, *pos: Any, **kwargs: Any) -> Any:
        given = list(sys.argv[1:] if args is None else args)
        try:
            set_language(language_from_environment(language_from_args(given)))
        except ValueError:
            # An unknown --lang / HEALTHSILK_LANG: the root callback refuses it in words; until then, English.
            set_language(DEFAULT_LANGUAGE)
        translate_help(self)
        return super().main(args, *pos, **kwargs)

    # click's own errors ("Missing option" ...) are raised while the root parses (make_context) or while it runs the
    # subcommands (invoke, which parses theirs); Typer prints them after both: put them in words on the way out.
    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except ClickException as error:
            translate_error(error)
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ClickException as error:
            translate_error(error)
            raise
