"""`--help` in the chosen language: the language is resolved from the arguments (then HEALTHSILK_LANG, the locale)
before click prints any help, and every help text of the tree (help=, docstrings, f-string helps, Typer's own words)
is translated from its English id. Also: the alert inbox shows a review in words, not its code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from i18n import set_language, use_language
from i18n.cli_help import language_from_args

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("HEALTHSILK_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")}
    return subprocess.run([sys.executable, "-m", "wallet.cli", *args], env={**base, "COLUMNS": "300", **(env or {})},
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def _plain(text: str) -> str:
    """The help without its box drawing, one space between words (rich wraps and pads)."""
    return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", text))


def test_consent_grant_help_in_french_and_in_chinese() -> None:
    french = _cli("--lang", "fr", "consent", "grant", "--help")
    assert french.returncode == 0, french.stderr
    text = _plain(french.stdout)
    assert "Permettre à un établissement de voir certains de vos dossiers" in text  # the command's docstring
    assert "Durée du consentement, en jours à partir de maintenant." in text  # an option's help=
    assert "Catégories de dossiers, séparées par des virgules : LAB, IMAGING, ECG" in text  # an f-string help, its values kept
    assert "Afficher ce message et quitter." in text and "Utilisation :" in text and "[obligatoire]" in text  # click's and Typer's words
    for english in ("Let an institution see", "How many days from now", "Comma-separated record categories", "Show this message", "Usage:"):
        assert english not in text
    chinese = _cli("--lang=zh", "consent", "grant", "--help")
    assert chinese.returncode == 0, chinese.stderr
    text = _plain(chinese.stdout)
    assert "允许某机构在若干天内出于指定目的查看您的部分记录" in text and "记录类别，以逗号分隔：LAB, IMAGING" in text and "用法：" in text
    assert "选项" in text and "Let an institution see" not in text


def test_root_help_follows_healthsilk_lang_and_defaults_to_english() -> None:
    by_variable = _plain(_cli("--help", env={"HEALTHSILK_LANG": "fr"}).stdout)
    assert "Commandes" in by_variable and "Donner, retirer et lister les consentements" in by_variable
    assert "Installer la complétion pour le shell courant." in by_variable
    by_locale = _plain(_cli("records", "--help", env={"LANG": "zh_CN.UTF-8"}).stdout)
    assert "您的健康记录" in by_locale and "命令" in by_locale
    english = _plain(_cli("consent", "grant", "--help", env={"LANG": "C.UTF-8"}).stdout)
    assert "Let an institution see some of your records" in english and "Comma-separated record categories: LAB" in english
    assert "Show this message and exit." in english and "Usage:" in english and "[required]" in english


def test_every_command_group_has_its_help_translated() -> None:
    """Every command's and every option's help, through the whole tree (api, network, audit, wallet ...), in French."""
    from typer.main import get_command

    from i18n.cli_help import commands, translate_help
    from wallet.cli import app

    root = get_command(app)
    with use_language("fr"):
        translate_help(root)
        untranslated = [command.name for command in commands(root) if command.help and command.help == command.__dict__["_healthsilk_english"]["help"]]
        untranslated += [f"{command.name} {param.name}" for command in commands(root) for param in command.params
                         if param.help and param.help == param.__dict__["_healthsilk_english"]["help"]]
    assert not untranslated, untranslated


@pytest.mark.parametrize(("args", "language"), [
    (["--lang", "fr", "consent"], "fr"), (["--lang=zh", "x"], "zh"), (["consent", "grant"], None), (["--", "--lang", "fr"], None), (["--lang"], None),
])
def test_the_language_is_read_from_the_arguments(args: list[str], language: str | None) -> None:
    assert language_from_args(args) == language


def test_the_alert_inbox_shows_the_review_and_the_categories_in_words() -> None:
    from rich.console import Console

    from wallet.commands.alerts import _rows

    alert = {"id": "emergency:0x01", "kind": "break-glass", "raised_at": 1_796_000_000, "raised_by": "0x" + "33" * 20, "raised_by_name": "Almaty",
             "details": {"reason_code": "ETREAT", "categories": ["ALLERGIES", "ECG"], "expires_at": 1_796_003_600, "records_read": [], "review": "PENDING"}}
    console = Console(width=300, record=True)
    try:
        for language, words in (("fr", ("pas encore examiné", "bris de glace : allergies", "traitement d'urgence (ETREAT)")), ("zh_Hans", ("尚未审查", "紧急破窗访问：过敏", "紧急治疗（ETREAT）"))):
            set_language(language)
            console.print(_rows([alert], {}))
            shown = console.export_text()
            assert all(word in shown for word in words), shown
            assert "pending" not in shown.lower() and "ALLERGIES" not in shown
        set_language("en")
        console.print(_rows([{**alert, "details": {**alert["details"], "review": "UNJUSTIFIED"}}], {}))
        assert "reviewed: unjustified" in console.export_text()
    finally:
        set_language("en")


def test_the_emergency_summary_names_its_sections_in_words_of_the_language() -> None:
    from care.summary import SECTIONS
    from wallet.commands.summary import _section_name

    sections = [{"title": title, "code": {"coding": [{"system": "http://loinc.org", "code": code}]}} for code, title in SECTIONS.values()]
    with use_language("fr"):
        french = [_section_name(section) for section in sections]
    with use_language("zh_Hans"):
        chinese = [_section_name(section) for section in sections]
    assert "Allergies et réactions indésirables" in french and "用药史" in chinese
    assert not set(french) & {title for _code, title in SECTIONS.values()} and not set(chinese) & set(french)
    assert _section_name({"title": "Plan of care", "code": {"coding": [{"code": "18776-5"}]}}) == "Plan of care"  # an unknown section: its own title
