"""`healthsilk case ...` end to end: staff commands with an API token at Lokossa and Yinchuan, the patient's wallet
approving after the plain words (and sending the consultant the key of a record Almaty wrote), the read under the
case, the answer, closing; a refusal from the wallet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crypto import KeyFile
from tests.care.cases.cases_api_world import ReferralApis
from tests.care.cases.test_cases_api import ECG, upload
from wallet.cli import app

runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None) -> Any:
    result = runner.invoke(app, list(args), env=env)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def wallet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wallet = tmp_path / "patient" / "wallet.json"
    monkeypatch.setenv("HEALTHSILK_WALLET", str(wallet))
    monkeypatch.setenv("HEALTHSILK_WALLET_PASSWORD", "case patient password")
    monkeypatch.setenv("HEALTHSILK_WALLET_SCRYPT_N", "1024")
    monkeypatch.delenv("HEALTHSILK_API_URL", raising=False)
    monkeypatch.delenv("HEALTHSILK_API_TOKEN", raising=False)
    monkeypatch.setenv("COLUMNS", "240")
    return wallet


def test_case_commands_end_to_end(referral_apis: ReferralApis, wallet_env: Path) -> None:
    world = referral_apis
    lok, yin, alm = world.lokossa, world.yinchuan, world.almaty
    at_lok = ("--api", lok.url)
    staff_lok = (*at_lok, "--token", lok.token)
    staff_yin = ("--api", yin.url, "--token", yin.token)
    assert cli("wallet", "create").exit_code == 0
    patient = KeyFile.read(wallet_env).address
    for institution, categories in ((lok.name, "ECG,LAB,REFERRAL"), (alm.name, "ECG")):
        granted = cli("consent", "grant", "--to", institution, "--categories", categories, "--days", "30", "--yes", *at_lok)
        assert granted.exit_code == 0, granted.output
    ecg = upload(world, lok, patient, ECG)
    almaty_ecg = upload(world, alm, patient, ECG | {"effectiveDateTime": "2026-11-18T09:30:00+01:00"})

    opened = cli("case", "open", "--patient", patient, "--to", yin.name, "--ask", "Please interpret both ECGs", "--attach", f"{ecg},{almaty_ecg}", "--priority", "urgent", "--json", *staff_lok)
    assert opened.exit_code == 0, opened.output
    case_id = json.loads(opened.stdout)["case_id"]
    inbox = cli("case", "list", "--role", "in", *staff_yin)
    assert inbox.exit_code == 0 and case_id in inbox.stdout and "urgent" in inbox.stdout
    missing_token = cli("case", "accept", case_id, "--api", yin.url)
    assert missing_token.exit_code == 1 and "API token" in missing_token.output

    shown = cli("case", "show", case_id, *at_lok)
    # Words, not the chain's codes (OPEN, URGENT): the patient reads this too.
    assert shown.exit_code == 0 and "waiting" in shown.stdout and "OPEN" not in shown.stdout and yin.name in shown.stdout
    approved = cli("case", "approve", case_id, "--days", "7", "--yes", "--json", *at_lok)
    assert approved.exit_code == 0, approved.output
    assert "You are about to sign" in approved.output and yin.name in approved.output and "electrocardiograms" in approved.output
    result = json.loads(approved.stdout)
    assert result["keys_shared"] == {yin.name: 1}, "the wallet re-wrapped the record Almaty wrote, not Lokossa's own"
    assert result["answer_consents"] == [yin.address]

    assert cli("case", "accept", case_id, *staff_yin).exit_code == 0
    for record in (ecg, almaty_ecg):
        read = cli("case", "read", case_id, record, *staff_yin)
        assert read.exit_code == 0, read.output
        assert json.loads(read.stdout)["valueSampledData"]["data"] == ECG["valueSampledData"]["data"]
    answered = cli("case", "answer", case_id, "--text", "Both tracings: sinus rhythm, no acute change.", "--json", *staff_yin)
    assert answered.exit_code == 0, answered.output
    answer_id = json.loads(answered.stdout)["record_id"]
    read = cli("case", "read", case_id, answer_id, *staff_lok)
    assert read.exit_code == 0 and "sinus rhythm" in read.stdout
    assert cli("case", "close", case_id, *staff_lok).exit_code == 0
    again = cli("case", "close", case_id, *staff_lok)
    assert again.exit_code == 1 and "closed" in again.output
    late = cli("case", "read", case_id, ecg, *staff_yin)
    assert late.exit_code == 1 and "403" in late.output

    # A second case, refused from the wallet: Yinchuan can then neither accept nor read.
    second = json.loads(cli("case", "open", "--patient", patient, "--to", yin.name, "--ask", "Second opinion", "--attach", ecg, "--json", *staff_lok).stdout)["case_id"]
    refused = cli("case", "refuse", second, "--yes", *at_lok)
    assert refused.exit_code == 0, refused.output
    assert json.loads(cli("case", "show", second, "--json", *at_lok).stdout)["state"] == "REFUSED"
    assert cli("case", "accept", second, *staff_yin).exit_code == 1
    mine = json.loads(cli("case", "list", "--json", *at_lok).stdout)
    assert {c["case_id"] for c in mine} == {case_id, second}
