"""`healthsilk emergency|alerts|summary` against the two real APIs: the patient sets her policy in her wallet, staff
break the glass with a token, her wallet shows the alert with the reason opened by her own key, she reviews it once,
and she exports her own emergency summary."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from emergency_world import ALLERGY, ECG, LAB, EmergencyWorld
from typer.testing import CliRunner

from wallet.cli import app

REASON = "Road accident on the A-2, unconscious; allergy status needed."


@pytest.fixture
def wallet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wallet = tmp_path / "patient" / "wallet.json"
    monkeypatch.setenv("HEALTHSILK_WALLET", str(wallet))
    monkeypatch.setenv("HEALTHSILK_WALLET_PASSWORD", "emergency-cli-test-password")
    monkeypatch.setenv("HEALTHSILK_WALLET_SCRYPT_N", str(2**12))
    monkeypatch.setenv("COLUMNS", "240")
    monkeypatch.delenv("HEALTHSILK_API_TOKEN", raising=False)
    return wallet


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def test_policy_alert_review_and_summary_from_the_wallet(emergency_world: EmergencyWorld, wallet_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = emergency_world
    monkeypatch.setenv("HEALTHSILK_API_URL", world.hospital.url)
    cli("wallet", "create")
    patient = json.loads(cli("wallet", "show", "--json"))["address"]
    cli("consent", "grant", "--to", world.hospital.address, "--categories", "ALLERGIES,ECG,LAB", "--purposes", "TREATMENT", "--days", "30", "--yes")
    with world.hospital.client() as hospital:
        ids = [hospital.post(f"/v1/patients/{patient}/records", json=r).json()[0]["record_id"] for r in (ALLERGY, ECG, LAB)]

    assert json.loads(cli("emergency", "policy", "show", "--json"))["mode"] == "DEFAULT"
    cli("emergency", "policy", "set", "--categories", "ALLERGIES,ECG", "--yes")
    policy = json.loads(cli("emergency", "policy", "show", "--json"))
    assert policy["mode"] == "CATEGORIES" and set(policy["categories"]) == {"ALLERGIES", "ECG"}
    refused = CliRunner().invoke(app, ["emergency", "policy", "set", "--all", "--never", "--yes"])
    assert refused.exit_code == 1 and "exactly one" in refused.output

    opened = json.loads(cli("emergency", "open", patient, "--reason", REASON, "--api", world.ambulance.url, "--token", world.ambulance.tokens["all"], "--json"))
    assert set(opened["categories"]) == {"ALLERGIES", "ECG"}
    with httpx.Client(base_url=world.ambulance.url, headers={"Authorization": f"Bearer {world.ambulance.tokens['all']}"}, timeout=60) as ambulance:
        assert ambulance.get(f"/v1/records/{ids[0]}", params={"flow": "emergency", "ref": opened["id"]}).status_code == 200

    alerts = json.loads(cli("alerts", "--json"))
    (alert,) = [a for a in alerts if a["details"]["break_glass_id"] == opened["id"]]
    assert alert["reason"] == REASON and alert["details"]["records_read"] == [ids[0]] and alert["raised_by"] == world.ambulance.address
    table = cli("alerts")
    assert world.ambulance.member.name in table and "ETREAT" in table

    cli("emergency", "review", opened["id"], "--justified", "--note", "I was in the accident", "--yes")
    again = CliRunner().invoke(app, ["emergency", "review", opened["id"], "--unjustified", "--yes"])
    assert again.exit_code == 1 and "already reviewed" in again.output

    bundle = json.loads(cli("summary", "--json"))
    kinds = sorted(e["resource"]["resourceType"] for e in bundle["entry"][1:])
    assert bundle["type"] == "document" and kinds == ["AllergyIntolerance", "Observation"], kinds
    out = wallet_env.parent / "summary.json"
    cli("summary", "--export", str(out))
    assert json.loads(out.read_text())["type"] == "document" and (out.stat().st_mode & 0o777) == 0o600
