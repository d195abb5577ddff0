"""The catalogues: extracted from the code by Babel, complete in en, zh_Hans and fr, placeholders kept, compilable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.support import Translations

from i18n import DOMAIN, LANGUAGES, LOCALES_DIR
from i18n.catalogues import (
    SAME_IN_CHINESE,
    SAME_IN_FRENCH,
    load,
    placeholders,
    problems,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("api", "care", "i18n", "ledger", "migrations", "network", "records", "wallet", "bench")  # as the Makefile's I18N_SOURCES
MAKEFILE_EXTRACT = "I18N_SOURCES := " + " ".join(SOURCES)


def _ids(catalog) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_the_makefile_extracts_from_the_same_packages_this_test_reads() -> None:
    assert MAKEFILE_EXTRACT in (ROOT / "Makefile").read_text()


def test_every_message_in_the_code_is_in_all_three_catalogues() -> None:
    """Babel's extraction over the tree (as `make i18n-extract` runs it) finds nothing the catalogues lack."""
    in_code: dict[str, str] = {}
    for package in SOURCES:
        for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT / package), method_map=[("**.py", "i18n.extract:extract")], keywords={"_": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)},
        ):
            in_code.setdefault(message if isinstance(message, str) else message[0], f"{package}/{filename}")  # a --help f-string template too
    assert len(in_code) > 500  # the extractor really read the code
    for language in LANGUAGES:
        missing = sorted(set(in_code) - _ids(load(language)))
        assert not missing, f"{language}: {len(missing)} message id(s) not in the catalogue, run `make i18n-extract` and translate: " + \
            "; ".join(f"{in_code[m]}: {m!r}" for m in missing[:10])


def test_every_id_is_translated_in_all_three_without_english_left_over() -> None:
    found = problems()
    assert not found, f"{len(found)} problem(s):\n" + "\n".join(found[:40])


@pytest.mark.parametrize("language", ["fr", "zh_Hans"])
def test_every_translation_keeps_the_same_placeholders_and_formats(language: str) -> None:
    """Same {names}, and `.format` with those names works on the translation (no stray or unbalanced braces)."""
    bad = []
    for message in load(language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
        strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
        for text in strings:
            names = {re.sub(r"[{}]", "", p) for p in placeholders(ids[0])}
            if set(placeholders(text)) != set(placeholders(ids[0])):
                bad.append((ids[0], text))
                continue
            values = {name: 1.5 if name in ("seconds", "reviewed", "unjustified") else "x" for name in names}
            try:
                text.format(**values)
            except (KeyError, ValueError, IndexError) as exc:
                bad.append((ids[0], f"{text} -> {exc!r}"))
    assert not bad, bad[:10]


def test_the_allowed_identical_lists_stay_short_and_are_really_identical() -> None:
    assert len(SAME_IN_FRENCH) < 80 and len(SAME_IN_CHINESE) < 20
    french = {m.id: m.string for m in load("fr") if m.id and isinstance(m.id, str)}
    # an entry that is not identical any more should leave the list (it would hide a regression)
    stale = [word for word in SAME_IN_FRENCH if word in french and french[word] != word]
    assert not stale, stale


def test_chinese_uses_simplified_characters() -> None:
    traditional = "們這個會說對學國過還點應發時實來後關記錄醫藥處審權"  # traditional forms of common characters
    offenders = [(m.id, m.string) for m in load("zh_Hans") if m.id and isinstance(m.string, str) and any(ch in m.string for ch in traditional)]
    assert not offenders, offenders[:5]


def test_the_catalogues_compile_and_load(tmp_path: Path) -> None:
    for language in ("fr", "zh_Hans"):
        catalog = load(language)
        target = tmp_path / language / "LC_MESSAGES"
        target.mkdir(parents=True)
        with (target / f"{DOMAIN}.mo").open("wb") as handle:
            write_mo(handle, catalog)
        loaded = Translations.load(str(tmp_path), [language], DOMAIN)
        assert loaded.gettext("Wallet") != "Wallet"
    assert (LOCALES_DIR / "fr" / "LC_MESSAGES" / f"{DOMAIN}.po").exists()
