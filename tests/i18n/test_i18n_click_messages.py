"""click's own error messages (a missing option, an unknown option or command, a rejected value) in the chosen
language: Typer's copy of click writes them in English, the root command puts them in words from our catalogue when
they are shown (i18n/click_messages.py). English stays as click writes it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from i18n import use_language
from i18n.click_messages import TEMPLATES, translate_message

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("HEALTHSILK_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")}
    return subprocess.run([sys.executable, "-m", "wallet.cli", *args], env={**base, "COLUMNS": "300", **(env or {})},
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def _plain(text: str) -> str:
    """The error panel without its box drawing, one space between words."""
    return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", text))


def test_a_missing_required_option_is_reported_in_french_chinese_and_english() -> None:
    french = _cli("--lang", "fr", "consent", "grant")
    assert french.returncode == 2, french.stderr
    text = _plain(french.stderr)
    assert "Option obligatoire manquante : '--to'." in text, text
    assert "Erreur" in text and "Utilisation :" in text and "pour obtenir de l'aide" in text  # the panel around it
    assert "Missing option" not in text and "Error" not in text and "Usage:" not in text

    chinese = _cli("consent", "grant", env={"HEALTHSILK_LANG": "zh"})
    assert chinese.returncode == 2, chinese.stderr
    text = _plain(chinese.stderr)
    assert "缺少必填选项 '--to'。" in text and "错误" in text and "用法：" in text, text
    assert "Missing option" not in text

    english = _cli("consent", "grant", env={"LANG": "C.UTF-8"})
    assert english.returncode == 2, english.stderr
    text = _plain(english.stderr)
    assert "Missing option '--to'." in text and "Error" in text and "Usage:" in text and "for help." in text, text


def test_an_unknown_option_and_a_rejected_value_in_french() -> None:
    unknown = _plain(_cli("--lang=fr", "consent", "grant", "--bogus").stderr)
    assert "Option inconnue : --bogus" in unknown and "No such option" not in unknown, unknown
    # Typer checks --days with pydantic: its error type is put in words (i18n/validation.py), not its English msg.
    rejected = _cli("--lang", "fr", "consent", "grant", "--to", "x", "--categories", "LAB", "--days", "abc")
    assert rejected.returncode == 2
    text = _plain(rejected.stderr)
    assert "Valeur invalide pour '--days' : doit être un entier" in text and "Input should be" not in text, text


@pytest.mark.parametrize(("english", "language", "expected"), [
    ("Missing option '--to'.", "fr", "Option obligatoire manquante : '--to'."),
    ("Missing argument 'PATIENT'.", "zh_Hans", "缺少必填参数 'PATIENT'。"),
    ("No such command 'grnt'. Did you mean 'grant'?", "fr", "Commande inconnue : 'grnt'. Vouliez-vous dire 'grant' ?"),
    ("No such command 'grnt'.", "zh_Hans", "无此命令：'grnt'。"),
    ("No such option: --to (Possible options: --to, --top)", "fr", "Option inconnue : --to (options possibles : --to, --top)"),
    ("Got unexpected extra argument(s) (a b)", "fr", "Argument(s) en trop, non attendu(s) (a b)"),
    ("Option '--to' requires an argument.", "zh_Hans", "选项 '--to' 后须提供一个值。"),
    ("Invalid value for '--wallet': file 'w.json' does not exist.", "fr", "Valeur invalide pour '--wallet' : le fichier 'w.json' n'existe pas."),
    ("Missing command.", "fr", "Commande manquante."),
    # Not one of click's messages (ours, already in words): shown as it is.
    ("Le consentement a expiré.", "fr", "Le consentement a expiré."),
])
def test_click_messages_are_read_back_against_their_templates(english: str, language: str, expected: str) -> None:
    with use_language(language):
        assert translate_message(english) == expected


def test_english_is_left_as_click_writes_it() -> None:
    with use_language("en"):
        assert translate_message("Missing option '--to'.") == "Missing option '--to'."


def test_every_template_has_its_placeholders_named() -> None:
    """Each template reads a message back by its placeholders: none may be positional ("{}")."""
    assert all("{}" not in template for template in TEMPLATES)
    assert len(set(TEMPLATES)) == len(TEMPLATES)
