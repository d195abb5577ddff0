"""Languages: every human-facing word in English, Chinese (zh_Hans) or French, through gettext catalogues (Babel).

    from i18n import _
    print(_("Consent granted to {name}").format(name=name))

`_` translates into the current language: a context variable, so each API request and each CLI run has its own
(`use_language`). Catalogues live in `i18n/locales/<lang>/LC_MESSAGES/healthsilk.po`, compiled to `.mo` by the build.
A message without a translation (or a language without a compiled catalogue) falls back to the English text.
Clinical text inside FHIR resources is never passed through here.
"""

from __future__ import annotations

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
    return Translations.load(str(LOCALES_DIR), [language], DOMAIN)


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
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def _checked(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose from {', '.join(LANGUAGES)}")
    return language
