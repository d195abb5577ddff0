"""Checks and chores on the gettext catalogues (`python -m i18n.catalogues check|missing|english`).

check    every message id has a translation in en, zh_Hans and fr, none empty or fuzzy, none left in English where it
         should differ, every {placeholder} and [markup] kept; exit 1 listing the problems
missing  the fr / zh_Hans entries still to translate (after `make i18n-extract`)
english  fills the English catalogue: its translation of an id is the id itself
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

from i18n import DOMAIN, LANGUAGES, LOCALES_DIR

# Ids whose French is rightly the same as the English (acronyms, protocol names, words French shares).
SAME_IN_FRENCH = frozenset({
    "Programme", "programme", "programmes", "Transaction", "Violations", "violations", "[red]{count} violation(s)[/red]",
    "{count} violation", "{count} violations", "consultant", "correction", "patient", "patients", "version", "{path} (mode {mode})",
    "ECG", "FHIR", "IPFS", "CID", "Arguments", "Options", "information", "transaction", "urgent",
})
ACRONYMS = frozenset({"ECG", "FHIR", "IPFS", "CID", "API"})
SAME_IN_CHINESE = ACRONYMS
# Per translated language: the ids allowed to stay as in English (a new language starts with the acronyms only).
SAME_AS_ENGLISH = {"fr": SAME_IN_FRENCH, "zh_Hans": SAME_IN_CHINESE}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)?(?:[!:][^{}]*)?\}")
_MARKUP = re.compile(r"\[/?[a-z][a-z ]*\]|\[/\]")


def po_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(language: str) -> Catalog:
    with po_path(language).open("rb") as handle:
        return read_po(handle, locale=language)


def save(catalog: Catalog, language: str) -> None:
    with po_path(language).open("wb") as handle:
        write_po(handle, catalog, width=0, sort_by_file=True, include_previous=False)


def placeholders(text: str) -> Counter[str]:
    return Counter(match.group(0).split(":")[0].split("!")[0].rstrip("}") + "}" for match in _PLACEHOLDER.finditer(text))


def markup(text: str) -> Counter[str]:
    return Counter(_MARKUP.findall(text))


def _only_symbols(text: str) -> bool:
    """Nothing to translate: placeholders, digits and punctuation only."""
    return not re.search(r"[^\W\d_]", _PLACEHOLDER.sub("", _MARKUP.sub("", text)))


def _forms(message: Message) -> list[tuple[str, str]]:
    """(English, translation) pairs: one for a simple message, one per plural form."""
    ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
    strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
    return [(ids[min(index, len(ids) - 1)], text or "") for index, text in enumerate(strings)] or [(ids[0], "")]


def problems() -> list[str]:
    found: list[str] = []
    catalogs = {language: load(language) for language in LANGUAGES}
    ids = {message.id if isinstance(message.id, str) else message.id[0] for message in catalogs["en"] if message.id}
    for language, catalog in catalogs.items():
        here = {message.id if isinstance(message.id, str) else message.id[0] for message in catalog if message.id}
        for missing in sorted(ids - here):
            found.append(f"{language}: no entry for {missing!r}")
        same = None if language == "en" else SAME_AS_ENGLISH.get(language, ACRONYMS)
        for message in catalog:
            if not message.id:
                continue
            if message.fuzzy:
                found.append(f"{language}: fuzzy (unchecked) translation of {message.id!r}")
            for english, text in _forms(message):
                if not text.strip():
                    found.append(f"{language}: no translation of {english!r}")
                    continue
                # the same names (a translation may use one twice, e.g. Chinese repeating a noun, never drop or invent one)
                if set(placeholders(text)) != set(placeholders(english)):
                    found.append(f"{language}: placeholders differ in {english!r}: {sorted(placeholders(text))} vs {sorted(placeholders(english))}")
                if markup(text) != markup(english):
                    found.append(f"{language}: markup differs in {english!r}: {text!r}")
                if same is not None and text == english and english not in same and not _only_symbols(english):
                    found.append(f"{language}: left in English: {english!r}")
    return found


def fill_english() -> int:
    catalog = load("en")
    filled = 0
    for message in catalog:
        if message.id and not (message.string if isinstance(message.string, str) else all(message.string)):
            message.string = message.id if isinstance(message.id, str) else tuple(message.id)
            filled += 1
        message.flags.discard("fuzzy")
    save(catalog, "en")
    return filled


def missing() -> list[str]:
    """The problems of the translated catalogues (English fills itself)."""
    return [line for line in problems() if not line.startswith("en:")]


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "english":
        print(f"en: {fill_english()} message(s) filled with their id")
        return 0
    found = missing() if command == "missing" else problems()
    for line in found:
        print(line)
    print(f"{len(found)} problem(s) in the catalogues" if found else "catalogues complete: en, zh_Hans, fr")
    return 1 if found and command == "check" else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
