"""Choosing the language (CLI flag, HEALTHSILK_LANG, system locale; Accept-Language) and what changes with it:
signing summaries, problem details, the HTML audit report, dates and money."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.problems import forbidden, install_problem_handlers
from i18n import (
    _,
    current_language,
    language_from_environment,
    negotiate,
    resolve_language,
    set_language,
    use_language,
)
from i18n.asgi import LanguageMiddleware
from i18n.formatting import datetime_text, money_text
from ledger.audit.html import render_html
from ledger.vocabulary import Category, Purpose
from wallet.typed_data import describe

ROOT = Path(__file__).resolve().parents[2]
GRANTEE = "0x" + "11" * 20
PATIENT = "0x" + "22" * 20


@pytest.mark.parametrize(("text", "language"), [
    ("fr", "fr"), ("fr_FR.UTF-8", "fr"), ("fr-CA", "fr"), ("zh", "zh_Hans"), ("zh_CN.UTF-8", "zh_Hans"), ("zh-Hans", "zh_Hans"),
    ("zh_Hans_CN", "zh_Hans"), ("en_GB", "en"), ("en", "en"), ("zh_TW", None), ("zh-Hant", None), ("de_DE", None), ("C", None), ("", None),
])
def test_locale_names_resolve_to_the_three_languages(text: str, language: str | None) -> None:
    assert resolve_language(text) == language


def test_the_cli_choice_is_flag_then_healthsilk_lang_then_system_locale_then_english(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HEALTHSILK_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert language_from_environment(None) == "fr"
    monkeypatch.setenv("HEALTHSILK_LANG", "zh")
    assert language_from_environment(None) == "zh_Hans"
    assert language_from_environment("en") == "en"
    monkeypatch.setenv("HEALTHSILK_LANG", "")
    monkeypatch.setenv("LANG", "de_DE.UTF-8")  # a system locale we do not offer falls back to English
    assert language_from_environment(None) == "en"
    with pytest.raises(ValueError):
        language_from_environment("klingon")  # an explicit choice we do not offer is an error


@pytest.mark.parametrize(("header", "language"), [
    (None, "en"), ("fr-FR,fr;q=0.9,en;q=0.8", "fr"), ("zh-CN,zh;q=0.9", "zh_Hans"), ("de-DE, fr;q=0.5", "fr"),
    ("en;q=0.5, zh;q=0.9", "zh_Hans"), ("fr;q=0", "en"), ("*", "en"), ("zh-TW", "en"), ("garbage;;q=x", "en"),
])
def test_accept_language_negotiation(header: str | None, language: str) -> None:
    assert negotiate(header) == language


def test_money_is_in_currency_units_for_each_language() -> None:
    expected = {"en": "1,200.00 CNY", "fr": "1\u202f200,00\u00a0CNY", "zh_Hans": "1,200.00\u00a0CNY"}
    for language, text in expected.items():
        with use_language(language):
            shown = money_text(120_000, "CNY")
            assert shown.replace("\u00a0", " ").replace("\u202f", " ") == text.replace("\u00a0", " ").replace("\u202f", " ")
            assert "120,000" not in shown and "120 000" not in shown.replace("\u202f", " ")
    with use_language("fr"):
        assert money_text(15_000, "XOF").replace("\u202f", " ").replace("\u00a0", " ") == "15 000 XOF"  # no minor unit


def test_dates_follow_the_language() -> None:
    moment = 1_796_000_000  # 2026-11-30 00:53 UTC
    with use_language("en"):
        assert datetime_text(moment) == "2026-11-30 00:53 UTC"
    with use_language("fr"):
        assert datetime_text(moment) == "30 nov. 2026 00:53 UTC"
    with use_language("zh_Hans"):
        assert datetime_text(moment) == "2026年11月30日 00:53 UTC"


def _grant() -> dict[str, object]:
    return {
        "patient": PATIENT, "grantee": GRANTEE, "categories": Category.LAB.bit | Category.ECG.bit, "purposes": int(Purpose.TREATMENT),
        "validFrom": 1_796_000_000, "validUntil": 1_798_592_000, "dataFrom": 0, "dataUntil": 0, "nonce": 3, "deadline": 1_796_000_600,
    }


def test_the_patient_reads_what_she_signs_in_her_language() -> None:
    names = {GRANTEE: "Yinchuan First People's Hospital"}
    with use_language("fr"):
        french = "\n".join(describe("GrantConsent", _grant(), names))
    with use_language("zh_Hans"):
        chinese = "\n".join(describe("GrantConsent", _grant(), names))
    with use_language("en"):
        english = "\n".join(describe("GrantConsent", _grant(), names))
    assert "Autoriser Yinchuan First People's Hospital" in french and "résultats de laboratoire" in french and "électrocardiogrammes" in french
    assert "LAB, ECG" in french and "soins" in french and "30 nov. 2026" in french and "remplace tout consentement" in french
    assert "允许 Yinchuan First People's Hospital" in chinese and "检验结果" in chinese and "心电图" in chinese and "诊疗" in chinese
    assert "2026年11月30日" in chinese and "LAB, ECG" in chinese
    assert "Allow Yinchuan" in english and "laboratory results" in english
    for words in (french, chinese):  # the codes, names, addresses and numbers are the same in every language
        assert PATIENT in words and GRANTEE in words and "nonce 3" in words
    assert current_language() == "en"


def test_api_answers_in_the_accept_language_and_says_so() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/secret")
    def secret() -> None:
        raise forbidden(_("a patient token only gives access to the patient's own records, or to those of the patient it is the current delegate of"))

    app.add_middleware(LanguageMiddleware)
    client = TestClient(app)
    french = client.get("/secret", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert french.status_code == 403 and french.headers["content-language"] == "fr" and "accept-language" in french.headers["vary"].lower()
    assert french.json()["title"] == "Non autorisé" and "dossiers du patient lui-même" in french.json()["detail"]
    assert french.json()["type"].endswith("/forbidden")  # problem types stay stable
    chinese = client.get("/nowhere", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 404 and chinese.headers["content-language"] == "zh-Hans"
    assert chinese.json()["title"] == "未找到" and "/nowhere" in chinese.json()["detail"] and "没有资源" in chinese.json()["detail"]
    english = client.get("/nowhere")
    assert english.headers["content-language"] == "en" and "there is no resource at /nowhere" == english.json()["detail"]


def _report() -> dict[str, object]:
    institution = {"address": "0x" + "33" * 20, "name": "Yinchuan First People's Hospital", "country": "CN", "roles": ["PROVIDER"], "status": "ACTIVE",
                   "records_anchored": 1, "batched_records": 0, "records_read": 1, "emergency_reads": 0, "consents_received": 1, "claims_submitted": 1,
                   "amount_paid": 120_000}
    return {"digest": "sha256:" + "ab" * 32, "report": {
        "chain_id": 1337, "deep": True, "range": {"from_block": 0, "to_block": 80, "to_block_hash": "0x" + "cd" * 32, "to_block_time": 1_796_000_000},
        "rules": [{"id": "claims", "description": "Claims were paid once.", "checked": True, "violations": 0}],
        "totals": {"events": 1234, "claims_paid": 1, "amount_paid": 120_000}, "series": {},
        "programmes": [{"id": 1, "name": "Cross-border cardiology care", "currency": "CNY", "payer": "0x" + "44" * 20, "payer_name": "Silk Road Health Fund",
                        "cards": 1, "funded": 10_000_000, "paid": 120_000, "disbursed": 300_000, "withdrawn": 0, "escrow_at_end": 9_580_000,
                        "in_range": {"claims_submitted": 1, "amount_paid": 120_000, "cash_disbursed": 300_000}}],
        "institutions": [institution], "countries": [{"country": "CN", "institutions": 1, "records_anchored": 1, "batched_records": 0, "records_read": 1,
                                                       "consents_received": 1, "claims_submitted": 1, "amount_paid": 120_000}],
        "violations": [], "flows": {},
    }}


def test_the_html_report_is_in_the_chosen_language_with_money_in_currency_units() -> None:
    with use_language("en"):
        english = render_html(_report())
    with use_language("fr"):
        french = render_html(_report())
    with use_language("zh_Hans"):
        chinese = render_html(_report())
    assert '<html lang="en">' in english and "1,200.00 CNY" in english and "120,000" not in english
    assert '<html lang="fr">' in french and "Règles vérifiées" in french and "montant versé" in french and "1\u202f200,00" in french
    assert '<html lang="zh-Hans">' in chinese and "已检查的规则" in chinese and "1,200.00" in chinese and "CNY" in chinese
    for page in (english, french, chinese):
        assert "claims" in page and "sha256:" + "ab" * 32 in page  # rule ids and the digest stay as they are


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("HEALTHSILK_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")}
    return subprocess.run([sys.executable, "-m", "wallet.cli", *args], env={**base, **env}, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_the_cli_speaks_the_language_chosen_by_flag_variable_or_locale(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.json")
    by_flag = _cli("--lang", "fr", "wallet", "show", "--wallet", missing, env={"HEALTHSILK_LANG": "zh"})
    assert by_flag.returncode == 1 and "Aucun portefeuille" in by_flag.stderr and "Que faire" in by_flag.stderr
    by_variable = _cli("wallet", "show", "--wallet", missing, env={"HEALTHSILK_LANG": "zh", "LANG": "fr_FR.UTF-8"})
    assert by_variable.returncode == 1 and "处没有钱包" in by_variable.stderr
    by_locale = _cli("wallet", "show", "--wallet", missing, env={"LANG": "fr_FR.UTF-8"})
    assert by_locale.returncode == 1 and "Aucun portefeuille" in by_locale.stderr
    english = _cli("wallet", "show", "--wallet", missing, env={"LANG": "C.UTF-8"})
    assert english.returncode == 1 and "No wallet at" in english.stderr
    unknown = _cli("--lang", "tlh", "wallet", "show", "--wallet", missing, env={})
    assert unknown.returncode == 2 and "tlh" in unknown.stderr


def test_the_auditor_chooses_the_language_of_the_audit_run(tmp_path: Path) -> None:
    """`audit replay --lang` (as `healthsilk --lang`): the audit's words, here its explanation of a network that is down."""
    from typer.testing import CliRunner

    from network.settings import NetworkSettings
    from tests.conftest import free_port
    from wallet.cli import app

    closed = free_port()
    NetworkSettings(data_dir=tmp_path, gateway_port=closed, node_port=free_port(), ipfs_port=free_port()).save()
    try:
        french = CliRunner().invoke(app, ["audit", "replay", "--data-dir", str(tmp_path), "--lang", "fr"])
        assert french.exit_code == 2 and "réseau injoignable" in french.output and "rien n'écoute sur ce port" in french.output, french.output
        chinese = CliRunner().invoke(app, ["--lang", "zh", "audit", "replay", "--data-dir", str(tmp_path)])
        assert chinese.exit_code == 2 and "无法连接网络" in chinese.output, chinese.output
        unknown = CliRunner().invoke(app, ["audit", "replay", "--data-dir", str(tmp_path), "--lang", "xx"])
        assert unknown.exit_code == 2 and "xx" in unknown.output
    finally:
        set_language("en")  # CliRunner runs in this process: leave the default language to the next test
