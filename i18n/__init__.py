"""Languages: every human-facing word in English, Chinese (zh_Hans) or French, through gettext catalogues (Babel).

    from i18n import _
    print(_("Consent granted to {name}").format(name=name))

`_` translates into the current language: a context variable, so each API request and each CLI run has its own
(`use_language`). Catalogues live in `i18n/locales/<lang>/LC_MESSAGES/healthsilk.po`, compiled to `.mo` by the build.
A message without a translation (or a language without a compiled catalogue) falls back to the English text.
Clinical text inside FHIR resources is never passed through here.

    i18n/__init__.py     _, ngettext, N_, the language per context, resolving --lang / HEALTHSILK_LANG / locale / Accept-Language
    i18n/formatting.py   dates, numbers and money (currency units, ISO code) in the current language (Babel)
    i18n/vocabulary.py   display names of record categories, consent purposes and consortium roles (the codes stay)
    i18n/audit_rules.py  the audit rules' sentences for the HTML report, keyed by rule id
    i18n/asgi.py         the API's middleware: Accept-Language in, Content-Language out
    i18n/validation.py   pydantic's validation messages by error type (API 422s, FHIR element issues); `type` stays
    i18n/cli_help.py     `--help` translated: the root group picks the language from argv first, then translates the tree
    i18n/click_messages.py  click's own error messages ("Missing option" ...), put in words when Typer shows them
    i18n/extract.py      the Babel extraction method (ast: also finds _() inside f-strings, and the CLI's help= texts,
                         command docstrings and f-string help templates); i18n/babel.cfg wires it
    i18n/catalogues.py   `python -m i18n.catalogues check|missing|english`: completeness and placeholder checks
    i18n/locales/        healthsilk.pot and the en, zh_Hans, fr catalogues (`make i18n-extract`, `make catalogues`)
"""

from __future__ import annotations

import locale
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations

DOMAIN = "healthsilk"
LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGES = ("en", "zh_Hans", "fr")
DEFAULT_LANGUAGE = "en"

_current: ContextVar[str] = ContextVar("healthsilk_language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of `language` (English: none needed)."""
    if language == DEFAULT_LANGUAGE:
        return NullTranslations()
    po = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if po.exists() and (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime):
        return _from_po(po)  # a checkout where `make catalogues` has not run since the .po changed
    return Translations.load(str(LOCALES_DIR), [language], DOMAIN)


def _from_po(po: Path) -> NullTranslations:
    """Compiles a catalogue in memory (the build writes the .mo; this keeps a fresh edit visible without it)."""
    from io import BytesIO

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def current_language() -> str:
    return _current.get()


def set_language(language: str) -> None:
    """Sets the language for the rest of this context (a CLI run); `language` must be one of LANGUAGES."""
    _current.set(_checked(language))


@contextmanager
def use_language(language: str) -> Iterator[None]:
    """The language for a block (an API request, a rendered report)."""
    token = _current.set(_checked(language))
    try:
        yield
    finally:
        _current.reset(token)


def _(message: str) -> str:
    """`message` (English, the message id) in the current language."""
    language = _current.get()
    text = translations(language).gettext(message)
    if _MISSING_LOG and text is message and language != DEFAULT_LANGUAGE:
        _log_missing(language, message)
    return text


def ngettext(singular: str, plural: str, n: int) -> str:
    language = _current.get()
    text = translations(language).ngettext(singular, plural, n)
    if _MISSING_LOG and (text is singular or text is plural) and language != DEFAULT_LANGUAGE:
        _log_missing(language, singular)
    return text


def quoted(text: str) -> str:
    """Someone else's words, shown as they are (a node's error, a clinician's note): “…”, « … » or “…”."""
    return ("« {text} »" if _current.get() == "fr" else "“{text}”").format(text=text)


# Tests set HEALTHSILK_I18N_MISSING_LOG to a file: every message shown in English for want of a translation is
# appended there (language, tab, message id), so a run in French or Chinese can prove nothing was left out.
_MISSING_LOG = os.environ.get("HEALTHSILK_I18N_MISSING_LOG")


def _log_missing(language: str, message: str) -> None:
    with open(_MISSING_LOG, "a", encoding="utf-8") as log:  # type: ignore[arg-type]
        log.write(language + "\t" + message.replace("\n", "\\n") + "\n")


def N_(message: str) -> str:
    """Marks a message id for extraction where it is defined (a module-level table); translate it with `_` when shown."""
    return message


def resolve_language(text: str | None) -> str | None:
    """"fr_FR.UTF-8", "zh-CN", "zh_Hans", "en-GB" ... -> one of LANGUAGES; None when nothing matches."""
    if not text:
        return None
    tag = text.split(".")[0].split("@")[0].replace("-", "_").strip().lower()
    if not tag or tag in ("c", "posix"):
        return None
    parts = tag.split("_")
    if parts[0] == "zh":
        # Traditional-script Chinese (zh_Hant, zh_TW, zh_HK, zh_MO) is not offered; Simplified is not a substitute.
        return None if any(p in ("hant", "tw", "hk", "mo") for p in parts[1:]) else "zh_Hans"
    return parts[0] if parts[0] in LANGUAGES else None


def language_from_environment(flag: str | None = None) -> str:
    """The CLI's choice: --lang, then HEALTHSILK_LANG, then the system locale (LC_ALL, LC_MESSAGES, LANG), then English.

    An explicit choice (flag or HEALTHSILK_LANG) that is not offered is an error; a system locale we do not offer is not.
    """
    for explicit in (flag, os.environ.get("HEALTHSILK_LANG")):
        if explicit:
            language = resolve_language(explicit)
            if language is None:
                raise ValueError(f"unknown language {explicit!r}; choose from en, zh (zh_Hans), fr")
            return language
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name):
            return resolve_language(os.environ[name]) or DEFAULT_LANGUAGE
    system = locale.getlocale(locale.LC_MESSAGES)[0] if hasattr(locale, "LC_MESSAGES") else None
    return resolve_language(system) or DEFAULT_LANGUAGE


def negotiate(accept_language: str | None) -> str:
    """An HTTP Accept-Language header -> the best of LANGUAGES (English when nothing offered is wanted)."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")):
        tag, _sep, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _eq, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = resolve_language(tag) if tag.strip() != "*" else DEFAULT_LANGUAGE
        if language is not None and quality > 0:
            ranked.append((-quality, index, language))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def content_language(language: str | None = None) -> str:
    """The BCP 47 tag of a language, for Content-Language and <html lang>: zh_Hans -> zh-Hans."""
    return (language or current_language()).replace("_", "-")


def _checked(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose from {', '.join(LANGUAGES)}")
    return language
