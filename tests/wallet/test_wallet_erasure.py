"""`healthsilk records erase` on the real network: shown, confirmed, signed here, relayed, shredded; and refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crypto import KeyFile
from ledger.records import RecordRegistry
from network.ipfs_client import IpfsClient
from tests.conftest import RunningNetwork
from tests.wallet.conftest import ApiServer
from wallet.cli import app
from wallet.errors import RefusedToSign
from wallet.typed_data import check_request_erasure

runner = CliRunner()


def ecg() -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
        "subject": {"reference": "Patient/example"}, "effectiveDateTime": "2024-05-02T09:30:00+01:00",
        "valueSampledData": {"origin": {"value": 0, "unit": "uV"}, "period": 4, "dimensions": 1, "data": " ".join(str(i % 30 - 15) for i in range(120))},
    }


def cli(*args: str, stdin: str | None = None) -> Any:
    result = runner.invoke(app, list(args), input=stdin)
    assert "Traceback" not in result.output, result.output
    return result


def _patient_with_ecg(hospital_api: ApiServer, wallet_env: Path) -> tuple[KeyFile, dict[str, Any]]:
    api = ("--api", hospital_api.url)
    assert cli("wallet", "create").exit_code == 0
    patient = KeyFile.read(wallet_env)
    assert cli("consent", "grant", "--to", "Lokossa Heart Clinic", "--categories", "ECG", "--yes", *api).exit_code == 0
    with hospital_api.client("write") as ehr:
        uploaded = ehr.post(f"/v1/patients/{patient.address}/records", json=ecg())
        assert uploaded.status_code == 201, uploaded.text
    return patient, uploaded.json()[0]


def test_erase_end_to_end(chain: RunningNetwork, hospital_api: ApiServer, wallet_env: Path) -> None:
    api = ("--api", hospital_api.url)
    patient, uploaded = _patient_with_ecg(hospital_api, wallet_env)
    record_id, cid = uploaded["record_id"], uploaded["cid"]
    registry = RecordRegistry(chain.ledger())

    # Declining the question changes nothing.
    declined = cli("records", "erase", record_id, *api, stdin="n\n")
    assert declined.exit_code == 1 and "cannot be undone" in declined.output.lower() and "you declined" in declined.output
    assert "ECG" in declined.output and "Lokossa Heart Clinic" in declined.output
    state = registry.state(bytes.fromhex(record_id[2:]))
    assert state is not None and not state.erased

    erased = cli("records", "erase", record_id, "--json", *api, stdin="y\n")
    assert erased.exit_code == 0, erased.output
    body = json.loads(erased.stdout[erased.stdout.index("{"):])  # the runner echoes the typed "y" before the JSON
    assert body["purged"] is True and body["record_id"] == record_id
    state = registry.state(bytes.fromhex(record_id[2:]))
    assert state is not None and state.erased
    with IpfsClient(chain.settings.ipfs_url) as ipfs:
        assert not ipfs.is_pinned(cid)
    with hospital_api.client("read") as ehr:
        assert ehr.get(f"/v1/records/{record_id}").status_code == 410

    (listed,) = json.loads(cli("records", "list", "--json", *api).stdout)
    assert listed["erased"] is True
    shown = cli("records", "show", record_id, *api)
    assert shown.exit_code == 1 and "erased" in shown.output
    again = cli("records", "erase", record_id, "--yes", *api)
    assert again.exit_code == 1 and "already erased" in again.output
    assert patient.address  # the wallet is the record's patient throughout


def test_erase_refusals(chain: RunningNetwork, hospital_api: ApiServer, wallet_env: Path) -> None:
    api = ("--api", hospital_api.url)
    _, uploaded = _patient_with_ecg(hospital_api, wallet_env)
    record_id = uploaded["record_id"]
    bad_id = cli("records", "erase", "0x1234", "--yes", *api)
    assert bad_id.exit_code == 1 and "is not a record id" in bad_id.output
    unknown = cli("records", "erase", "0x" + "ab" * 32, "--yes", *api)
    assert unknown.exit_code == 1 and "not one of your records" in unknown.output
    state = RecordRegistry(chain.ledger()).state(bytes.fromhex(record_id[2:]))
    assert state is not None and not state.erased


def test_erase_refuses_a_tampered_domain_before_signing(chain: RunningNetwork, hospital_api: ApiServer, wallet_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API is untrusted: typed data for another contract is refused before the wallet signs anything."""
    from wallet import client as wallet_client
    from wallet.commands import records as records_command

    api = ("--api", hospital_api.url)
    _, uploaded = _patient_with_ecg(hospital_api, wallet_env)
    record_id = uploaded["record_id"]
    consent_ledger = chain.ledger().deployments.address_of("ConsentLedger")
    genuine = wallet_client.ApiClient.prepare_erasure

    def forged(self: wallet_client.ApiClient, rid: str) -> dict[str, Any]:
        answer = genuine(self, rid)
        answer["typed_data"]["domain"]["verifyingContract"] = consent_ledger  # a compromised API swaps the contract
        return answer

    signed: list[Any] = []
    monkeypatch.setattr(wallet_client.ApiClient, "prepare_erasure", forged)
    monkeypatch.setattr(records_command, "sign_typed_data", lambda *a: signed.append(a) or "0x")
    refused = cli("records", "erase", record_id, "--yes", *api)
    assert refused.exit_code == 3 and "Refusing to sign" in refused.output and "RecordRegistry" in refused.output
    assert signed == []
    state = RecordRegistry(chain.ledger()).state(bytes.fromhex(record_id[2:]))
    assert state is not None and not state.erased


def test_check_request_erasure_field_by_field() -> None:
    registry, chain_id, patient, rid = "0x" + "11" * 20, 31337, "0x" + "22" * 20, "0x" + "33" * 32
    now = int(time.time())
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}, {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "RequestErasure": [{"name": "patient", "type": "address"}, {"name": "recordId", "type": "bytes32"}, {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"}],
        },
        "primaryType": "RequestErasure",
        "domain": {"name": "RecordRegistry", "version": "1", "chainId": chain_id, "verifyingContract": registry},
        "message": {"patient": patient, "recordId": rid, "nonce": 0, "deadline": now + 600},
    }
    ok = check_request_erasure(typed, patient=patient, record_id=rid, chain_id=chain_id, record_registry=registry, now=now)
    assert ok["recordId"] == bytes.fromhex(rid[2:]) and ok["nonce"] == 0
    for mutate in (
        lambda t: t["domain"].__setitem__("chainId", 1),
        lambda t: t["domain"].__setitem__("verifyingContract", "0x" + "44" * 20),
        lambda t: t["message"].__setitem__("patient", "0x" + "55" * 20),
        lambda t: t["message"].__setitem__("recordId", "0x" + "66" * 32),
        lambda t: t["message"].__setitem__("deadline", now + 86400),
        lambda t: t["message"].__setitem__("deadline", now - 1),
        lambda t: t["types"]["RequestErasure"].reverse(),
        lambda t: t.__setitem__("primaryType", "RevokeConsent"),
    ):
        bad = json.loads(json.dumps(typed))
        mutate(bad)
        with pytest.raises(RefusedToSign):
            check_request_erasure(bad, patient=patient, record_id=rid, chain_id=chain_id, record_registry=registry, now=now)
