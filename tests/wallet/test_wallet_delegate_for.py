"""`--for PATIENT` on the real network: a guardian's own wallet lists and decrypts the patient's records, sees the
patient's access log (its own read included), grants and revokes consent for the patient with its own signature and
plain words that say so; a stranger is refused, and so is the guardian as soon as the patient removes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from crypto import KeyFile
from tests.conftest import RunningNetwork
from tests.wallet.conftest import ApiServer, admit
from wallet.cli import app

runner = CliRunner()


def cli(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def ecg() -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
        "subject": {"reference": "Patient/example"}, "effectiveDateTime": "2024-05-02T09:30:00+01:00",
        "valueSampledData": {"origin": {"value": 0, "unit": "uV"}, "period": 4, "dimensions": 1, "data": " ".join(str(i % 33 - 16) for i in range(180))},
    }


def test_guardian_acts_for_the_patient_with_for(chain: RunningNetwork, hospital_api: ApiServer, wallet_env: Path, tmp_path: Path) -> None:
    admit(chain, "wallet-e2e-delegate-lab", "Bishkek Delegate Test Lab", "KG", ["PROVIDER"])
    api = ("--api", hospital_api.url)
    guardian_wallet, stranger_wallet = tmp_path / "guardian" / "wallet.json", tmp_path / "stranger" / "wallet.json"
    for path in (None, guardian_wallet, stranger_wallet):
        assert cli("wallet", "create", *(("--wallet", str(path)) if path else ())).exit_code == 0
    patient, guardian = KeyFile.read(wallet_env).address, KeyFile.read(guardian_wallet).address
    as_guardian = ("--wallet", str(guardian_wallet), "--for", patient, *api)

    # The patient consents to the hospital, which uploads an ECG; the patient appoints the guardian, and the
    # guardian registers its own encryption key (as any patient does) so keys can be released to it.
    assert cli("consent", "grant", "--to", "Lokossa Heart Clinic", "--categories", "ECG,LAB", "--yes", *api).exit_code == 0
    with hospital_api.client("write") as ehr:
        uploaded = ehr.post(f"/v1/patients/{patient}/records", json=ecg())
        assert uploaded.status_code == 201, uploaded.text
    record_id = uploaded.json()[0]["record_id"]
    assert cli("delegate", "add", guardian, "--yes", *api).exit_code == 0
    registered = cli("wallet", "register", "--yes", "--wallet", str(guardian_wallet), *api)
    assert registered.exit_code == 0, registered.output

    # Lists and reads the patient's records, decrypted with the guardian's own key.
    listed = cli("records", "list", "--json", *as_guardian)
    assert listed.exit_code == 0, listed.output
    assert [row["record_id"] for row in json.loads(listed.stdout)] == [record_id]
    shown = cli("records", "show", record_id, "--json", *as_guardian)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["valueSampledData"]["data"] == ecg()["valueSampledData"]["data"]
    own = cli("records", "show", record_id, "--json", "--wallet", str(guardian_wallet), *api)  # without --for: not its record
    assert own.exit_code == 1 and "Error:" in own.output

    # The read is in the patient's access log, as the guardian's; the patient sees it too.
    log = json.loads(cli("access-log", "--json", *as_guardian).stdout)
    assert [(entry["reader"], entry["flow"], entry["record_ids"]) for entry in log if entry["reader"] == guardian] == [(guardian, "delegate", [record_id])]
    assert any(entry["reader"] == guardian for entry in json.loads(cli("access-log", "--json", *api).stdout))

    # Grants and revokes consent for the patient, told in plain words that it acts as delegate.
    granted = cli("consent", "grant", "--to", "Bishkek Delegate", "--categories", "LAB", "--days", "7", "--yes", "--json", *as_guardian)
    assert granted.exit_code == 0, granted.output
    assert "As delegate of patient" in granted.output and json.loads(granted.stdout)["signer"] == guardian
    consents = {row["grantee_name"]: row["status"] for row in json.loads(cli("consent", "list", "--json", *as_guardian).stdout)}
    assert consents["Bishkek Delegate Test Lab"] == "ACTIVE"
    revoked = cli("consent", "revoke", "--from", "Bishkek Delegate", "--yes", *as_guardian)
    assert revoked.exit_code == 0 and "As delegate of patient" in revoked.output, revoked.output
    consents = {row["grantee_name"]: row["status"] for row in json.loads(cli("consent", "list", "--json", *api).stdout)}
    assert consents["Bishkek Delegate Test Lab"] == "REVOKED"
    assert cli("card", "show", *as_guardian).exit_code == 0 and cli("claims", "list", *as_guardian).exit_code == 0

    # A stranger is refused in plain words; a malformed --for too.
    stranger = cli("records", "list", "--wallet", str(stranger_wallet), "--for", patient, *api)
    assert stranger.exit_code == 1 and "not the delegate of patient" in stranger.output
    assert cli("records", "list", "--for", "nobody", *as_guardian[:2], *api).exit_code == 1

    # Removed by the patient: refused at once.
    assert cli("delegate", "remove", "--yes", *api).exit_code == 0
    removed = cli("records", "show", record_id, *as_guardian)
    assert removed.exit_code == 1 and "not the delegate of patient" in removed.output
    refused = cli("consent", "grant", "--to", "Bishkek Delegate", "--categories", "LAB", "--yes", *as_guardian)
    assert refused.exit_code == 1 and "not the delegate of patient" in refused.output
