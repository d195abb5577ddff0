"""A patient's delegate (guardian or carer) handles the patient's referral cases (issue 17 section 5): through the
API with its own session and signature, and from its own wallet with `--for PATIENT`. A stranger is refused, and so
is the delegate as soon as the patient removes it; refusals change nothing on chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from typer.testing import CliRunner

from care.cases_fhir import service_request
from crypto import HpkePrivateKey, Identity, KeyFile
from ledger.cases import ReferralCases
from tests.care.cases.cases_api_world import ReferralApis
from tests.care.cases.test_cases_api import ECG, problem, upload
from wallet.cli import app

runner = CliRunner()


def _identity() -> Identity:
    return Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())


def _appoint(world: ReferralApis, patient: Identity, delegate: str | None) -> None:
    world.relay_signed(patient, {"action": "delegate", "patient": patient.address, "delegate": delegate})


def _open(world: ReferralApis, patient: str, ask: str = "Second opinion on this ECG") -> str:
    ecg = upload(world, world.lokossa, patient, ECG)
    body = {"patient": patient, "request": service_request(ask), "attached_ids": [ecg], "consultants": [world.yinchuan.address]}
    opened = world.http(world.lokossa).post("/v1/cases", json=body)
    assert opened.status_code == 201, opened.text
    return str(opened.json()["case_id"])


def _signed(client: httpx.Client, signer: Identity, case_id: str, action: str, params: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """GET the message to sign, sign it as `signer`, and return the summary and the relay body."""
    prepared = client.get(f"/v1/cases/{case_id}/{action}", params=params or {})
    assert prepared.status_code == 200, prepared.text
    typed = prepared.json()["typed_data"]
    m = typed["message"]
    body = {"nonce": m["nonce"], "deadline": m["deadline"], "signature": signer.account.sign_typed_data(full_message=typed).signature.to_0x_hex()}
    if "until" in m:
        body["until"] = m["until"]
    return str(prepared.json()["summary"]), body


def _state(world: ReferralApis, case_id: str) -> str:
    return str(world.http(world.lokossa).get(f"/v1/cases/{case_id}").json()["state"])


def test_delegate_approves_and_refuses_the_patients_case_through_the_api(referral_apis: ReferralApis) -> None:
    world = referral_apis
    cases = ReferralCases(world.net.ledger())
    patient, guardian, stranger = world.new_patient(), _identity(), _identity()
    _appoint(world, patient, guardian.address)
    case_id = _open(world, patient.address)
    as_guardian, as_stranger = world.sign_in(guardian, world.lokossa), world.sign_in(stranger, world.lokossa)

    # The guardian lists and sees the patient's case; its own list (no patient named) stays its own.
    listed = as_guardian.get("/v1/cases", params={"patient": patient.address})
    assert listed.status_code == 200, listed.text
    assert [c["case_id"] for c in listed.json()] == [case_id]
    assert as_guardian.get("/v1/cases").json() == []
    assert as_guardian.get(f"/v1/cases/{case_id}").json()["patient"] == patient.address

    # A stranger sees nothing, may not prepare, and its own signature relayed is refused: nothing changes.
    problem(as_stranger.get("/v1/cases", params={"patient": patient.address}), 403)
    problem(as_stranger.get(f"/v1/cases/{case_id}"), 403)
    problem(as_stranger.get(f"/v1/cases/{case_id}/approval", params={"until": world.now() + 86400}), 403)
    _summary, guardian_body = _signed(as_guardian, guardian, case_id, "approval", {"until": world.now() + 86400})
    problem(as_stranger.post(f"/v1/cases/{case_id}/approval", json=guardian_body), 403)
    assert _state(world, case_id) == "OPEN"

    # The guardian approves with its own signature and nonce, told in plain words that it signs as delegate.
    nonces = (cases.nonce(patient.address), cases.nonce(guardian.address))
    summary, body = _signed(as_guardian, guardian, case_id, "approval", {"until": world.now() + 86400})
    assert summary.startswith(f"As delegate of patient {patient.address}, you ({guardian.address})") and world.yinchuan.name in summary
    assert body["nonce"] == nonces[1]
    relayed = as_guardian.post(f"/v1/cases/{case_id}/approval", json=body)
    assert relayed.status_code == 200, relayed.text
    assert _state(world, case_id) == "APPROVED"
    assert (cases.nonce(patient.address), cases.nonce(guardian.address)) == (nonces[0], nonces[1] + 1), "the guardian's nonce was used, not the patient's"

    # The guardian withdraws the approval (a refusal), again with its own signature.
    summary, body = _signed(as_guardian, guardian, case_id, "refusal")
    assert summary.startswith("As delegate of patient")
    assert as_guardian.post(f"/v1/cases/{case_id}/refusal", json=body).status_code == 200
    assert _state(world, case_id) == "REFUSED"

    # Removed by the patient: refused at once, on the next request (the chain is asked every time).
    second = _open(world, patient.address, "A second case, after the first was refused")
    _summary, body = _signed(as_guardian, guardian, second, "approval", {"until": world.now() + 86400})
    _appoint(world, patient, None)
    problem(as_guardian.post(f"/v1/cases/{second}/approval", json=body), 403)
    problem(as_guardian.get("/v1/cases", params={"patient": patient.address}), 403)
    problem(as_guardian.get(f"/v1/cases/{second}"), 403)
    assert _state(world, second) == "OPEN"


@pytest.fixture
def wallets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    monkeypatch.setenv("HEALTHSILK_WALLET_PASSWORD", "case delegate password")
    monkeypatch.setenv("HEALTHSILK_WALLET_SCRYPT_N", "1024")
    for name in ("HEALTHSILK_WALLET", "HEALTHSILK_API_URL", "HEALTHSILK_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "240")
    return tmp_path / "patient.json", tmp_path / "guardian.json", tmp_path / "stranger.json"


def cli(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def test_delegate_approves_a_case_from_its_wallet_with_for(referral_apis: ReferralApis, wallets: tuple[Path, Path, Path]) -> None:
    world = referral_apis
    api = ("--api", world.lokossa.url)
    patient_wallet, guardian_wallet, stranger_wallet = wallets
    for path in wallets:
        assert cli("wallet", "create", "--wallet", str(path)).exit_code == 0
    patient, guardian = KeyFile.read(patient_wallet).address, KeyFile.read(guardian_wallet).address
    as_patient = ("--wallet", str(patient_wallet), *api)
    as_guardian = ("--wallet", str(guardian_wallet), "--for", patient, *api)
    granted = cli("consent", "grant", "--to", world.lokossa.name, "--categories", "ECG,REFERRAL", "--days", "30", "--yes", *as_patient)
    assert granted.exit_code == 0, granted.output
    assert cli("delegate", "add", guardian, "--yes", *as_patient).exit_code == 0
    case_id = _open(world, patient)

    # A stranger is refused in plain words before anything is signed.
    stranger = cli("case", "approve", case_id, "--yes", "--wallet", str(stranger_wallet), "--for", patient, *api)
    assert stranger.exit_code == 1 and "not the delegate of patient" in stranger.output
    assert _state(world, case_id) == "OPEN"

    listed = cli("case", "list", "--json", *as_guardian)
    assert listed.exit_code == 0, listed.output
    assert [row["case_id"] for row in json.loads(listed.stdout)] == [case_id]
    assert cli("case", "show", case_id, *as_guardian).exit_code == 0

    approved = cli("case", "approve", case_id, "--days", "7", "--yes", "--json", *as_guardian)
    assert approved.exit_code == 0, approved.output
    assert f"As delegate of patient {patient}, you ({guardian})" in approved.output and world.yinchuan.name in approved.output
    result = json.loads(approved.stdout)
    assert (result["patient"], result["signer"]) == (patient, guardian)
    assert result["answer_consents"] == [world.yinchuan.address], "the answer consent was granted for the patient, signed by the delegate"
    assert _state(world, case_id) == "APPROVED"
    consents = {row["grantee"]: row["status"] for row in world.http(world.lokossa).get(f"/v1/patients/{patient}/consents").json()}
    assert consents[world.yinchuan.address] == "ACTIVE"

    refused = cli("case", "refuse", case_id, "--yes", *as_guardian)
    assert refused.exit_code == 0 and "As delegate of patient" in refused.output, refused.output
    assert _state(world, case_id) == "REFUSED"
