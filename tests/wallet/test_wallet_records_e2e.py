"""Records through the wallet on the real network: list, decrypt locally, share keys with a new grantee
(delivered to the grantee's own API), and the access log of who read what."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from crypto import KeyFile
from tests.conftest import RunningNetwork, free_port
from tests.wallet.conftest import ApiServer, admit, running_api
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
        "valueSampledData": {"origin": {"value": 0, "unit": "uV"}, "period": 4, "dimensions": 1, "data": " ".join(str(i % 40 - 20) for i in range(200))},
    }


def lab() -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
        "subject": {"reference": "Patient/example"}, "effectiveDateTime": "2024-05-02T08:00:00Z",
        "valueQuantity": {"value": 5.4, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }


def test_records_decrypt_share_and_access_log(chain: RunningNetwork, hospital_api: ApiServer, wallet_env: Path, tmp_path: Path) -> None:
    yinchuan_port = free_port()
    yinchuan = admit(chain, "wallet-e2e-yinchuan-reader", "Yinchuan ECG Reading Centre", "CN", ["PROVIDER"], endpoint=f"http://127.0.0.1:{yinchuan_port}")
    api = ("--api", hospital_api.url)
    assert cli("wallet", "create").exit_code == 0
    patient = KeyFile.read(wallet_env)
    assert cli("records", "list", *api).stdout.startswith("No records")

    # The patient lets the hospital treat them; the hospital's EHR uploads an ECG and a lab result.
    assert cli("consent", "grant", "--to", "Lokossa Heart Clinic", "--categories", "ECG,LAB", "--yes", *api).exit_code == 0
    with hospital_api.client("read", "write") as ehr:
        uploaded = ehr.post(f"/v1/patients/{patient.address}/records", json={"resourceType": "Bundle", "type": "collection", "entry": [{"resource": ecg()}, {"resource": lab()}]})
        assert uploaded.status_code == 201, uploaded.text
    by_category = {row["category"]: row["record_id"] for row in uploaded.json()}
    ecg_id, lab_id = by_category["ECG"], by_category["LAB"]

    listed = json.loads(cli("records", "list", "--json", *api).stdout)
    assert {row["record_id"] for row in listed} == {ecg_id, lab_id}
    assert all(row["author"] == hospital_api.institution.address for row in listed)
    table = cli("records", "list", *api).stdout
    assert "Lokossa Heart Clinic" in table and ecg_id[:10] in table

    shown = cli("records", "show", ecg_id, "--json", *api)
    assert shown.exit_code == 0, shown.output
    resource = json.loads(shown.stdout)
    assert resource["resourceType"] == "Observation" and resource["valueSampledData"]["data"] == ecg()["valueSampledData"]["data"]
    pretty = cli("records", "show", lab_id, *api)
    assert pretty.exit_code == 0 and "Glucose" in pretty.stdout and "LAB" in pretty.stdout
    out = tmp_path / "ecg.json"
    assert cli("records", "show", ecg_id, "--out", str(out), *api).exit_code == 0
    assert json.loads(out.read_text()) == resource and stat.S_IMODE(out.stat().st_mode) == 0o600
    refused = cli("records", "show", ecg_id, "--out", str(out), *api)
    assert refused.exit_code == 1 and "already exists" in refused.output
    unknown = cli("records", "show", "0x" + "ab" * 32, *api)
    assert unknown.exit_code == 1 and "Error:" in unknown.output

    # A later grant to another institution: the wallet re-wraps the in-scope (ECG only) keys and delivers them
    # to that institution's own API, which then reads the record under its consent.
    with running_api(chain, yinchuan, tmp_path / "yinchuan-api", port=yinchuan_port) as yinchuan_api:
        granted = cli("consent", "grant", "--to", "Yinchuan ECG", "--categories", "ECG", "--days", "7", "--yes", "--json", *api)
        assert granted.exit_code == 0, granted.output
        shares = json.loads(granted.stdout)["key_shares"]
        assert shares["shared"] == [ecg_id] and shares["via"] == yinchuan_api.url and shares["error"] is None
        with yinchuan_api.client("read") as reader:
            read = reader.get(f"/v1/records/{ecg_id}", params={"purpose": "TREATMENT"})
            assert read.status_code == 200, read.text
            assert read.json()["valueSampledData"]["data"] == resource["valueSampledData"]["data"]
            assert reader.get(f"/v1/records/{lab_id}", params={"purpose": "TREATMENT"}).status_code in (403, 404)
        again = json.loads(cli("consent", "share-keys", "--to", "Yinchuan ECG", "--json", *api).stdout)
        assert again["shared"] == [ecg_id] and again["skipped"] == {}  # re-sending is harmless: same wrap target

    # The hospital reads the lab result; the patient sees both reads in the access log.
    with hospital_api.client("read") as reader:
        assert reader.get(f"/v1/records/{lab_id}", params={"purpose": "TREATMENT"}).status_code == 200
    log = json.loads(cli("access-log", "--json", *api).stdout)
    readers = {(entry["reader"], tuple(entry["record_ids"])) for entry in log}
    assert (yinchuan.address, (ecg_id,)) in readers and (hospital_api.institution.address, (lab_id,)) in readers
    assert all(entry["purpose"] == "TREATMENT" for entry in log)
    table = cli("access-log", *api).stdout
    assert "Yinchuan ECG Reading Centre" in table and "Lokossa Heart Clinic" in table

    # Reads stop once the consent is revoked, and a revoked grantee is not sent keys again.
    assert cli("consent", "revoke", "--from", "Yinchuan ECG", "--yes", *api).exit_code == 0
    no_consent = cli("consent", "share-keys", "--to", "Yinchuan ECG", *api)
    assert no_consent.exit_code == 1 and "no active consent" in no_consent.output
