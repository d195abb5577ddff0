"""A patient's delegate (guardian or carer) handles the patient's emergency access (issue 17 section 5): sets the
emergency policy with its own signature, sees the patient's break-glasses and alerts, and reviews a break-glass;
through the API with its own session, and from its own wallet with `--for PATIENT`. A stranger is refused and
nothing changes on chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from emergency_world import ALLERGY, ECG, REASON, EmergencyWorld
from eth_account import Account
from typer.testing import CliRunner

from crypto import HpkePrivateKey, Identity, KeyFile
from ledger.emergency import BreakGlassLedger, PolicyMode, Review
from wallet.cli import app


def _identity() -> Identity:
    return Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())


def _patient_with_guardian(world: EmergencyWorld) -> tuple[Identity, Identity]:
    """A registered patient who consented to the hospital for allergies, with an allergy record, and a guardian."""
    patient, guardian = _identity(), _identity()
    world.relay_consent(patient, {"action": "register", "patient": patient.address, "hpke_public_key": patient.hpke_public_key.to_hex()})
    now = world.now()
    world.relay_consent(patient, {"action": "grant", "patient": patient.address, "grantee": world.hospital.address,
                                  "categories": ["ALLERGIES", "ECG"], "purposes": ["TREATMENT"], "valid_from": now - 60, "valid_until": now + 3600})
    world.relay_consent(patient, {"action": "delegate", "patient": patient.address, "delegate": guardian.address})
    with world.hospital.client() as client:
        answer = client.post(f"/v1/patients/{patient.address}/records", json=ALLERGY)
        assert answer.status_code == 201, answer.text
    return patient, guardian


def _prepare_and_sign(client: httpx.Client, prepare: str, body: dict[str, Any], signer: Identity) -> tuple[str, dict[str, Any]]:
    prepared = client.post(prepare, json=body)
    assert prepared.status_code == 200, prepared.text
    typed = prepared.json()["typed_data"]
    return str(prepared.json()["summary"]), {"typed_data": typed, "signature": signer.account.sign_typed_data(full_message=typed).signature.to_0x_hex()}


def _break_glass(world: EmergencyWorld, patient: str) -> str:
    with world.ambulance.client() as ambulance:
        opened = ambulance.post("/v1/emergency/break-glass", json={"patient": patient, "reason_code": "ETREAT", "reason": REASON})
    assert opened.status_code == 201, opened.text
    return str(opened.json()["id"])


def test_delegate_sets_the_policy_sees_the_alert_and_reviews_through_the_api(emergency_world: EmergencyWorld) -> None:
    world = emergency_world
    bg = BreakGlassLedger(world.net.ledger())
    patient, guardian = _patient_with_guardian(world)
    stranger = _identity()
    as_guardian, as_stranger = world.sign_in(world.hospital, guardian), world.sign_in(world.hospital, stranger)
    path = f"/v1/patients/{patient.address}/emergency-policy"

    # A stranger reads nothing and may not prepare; its own signature of a policy is refused by the ledger's rules.
    assert as_stranger.get(path).status_code == 403
    assert as_stranger.post(path + "/prepare", json={"mode": "NEVER"}).status_code == 403
    _words, forged = _prepare_and_sign(as_guardian, path + "/prepare", {"mode": "NEVER"}, stranger)
    with world.hospital.client() as hospital:
        assert hospital.post(path, json=forged).status_code == 422
    assert bg.policy(patient.address).mode == PolicyMode.DEFAULT

    # The guardian sets the patient's policy with its own signature, told that it signs as the patient's delegate.
    nonce = bg.nonce(guardian.address)
    words, signed = _prepare_and_sign(as_guardian, path + "/prepare", {"mode": "CATEGORIES", "categories": ["ALLERGIES", "SUMMARY"]}, guardian)
    assert guardian.address in words and "delegate" in words
    relayed = as_guardian.post(path, json=signed)
    assert relayed.status_code == 200, relayed.text
    policy = as_guardian.get(path).json()
    assert policy["mode"] == "CATEGORIES" and set(policy["categories"]) == {"ALLERGIES", "SUMMARY"}
    assert bg.nonce(guardian.address) == nonce + 1 and bg.nonce(patient.address) == 0

    # The ambulance breaks the glass; the guardian sees it in the patient's list and alert inbox, the stranger does not.
    ref = _break_glass(world, patient.address)
    listed = as_guardian.get("/v1/emergency/break-glass", params={"patient": patient.address})
    assert listed.status_code == 200, listed.text
    assert [v["id"] for v in listed.json()] == [ref]
    assert as_guardian.get("/v1/emergency/break-glass").json() == [], "without a patient named, the session's own"
    alerts = as_guardian.get("/v1/alerts", params={"patient": patient.address})
    assert alerts.status_code == 200 and f"emergency:{ref}" in {a["id"] for a in alerts.json()}, alerts.text
    for query in ("/v1/emergency/break-glass", "/v1/alerts"):
        assert as_stranger.get(query, params={"patient": patient.address}).status_code == 403, query
    assert as_stranger.get(f"/v1/emergency/break-glass/{ref}").status_code == 403

    # The stranger cannot review; the guardian does, with its own signature.
    review = f"/v1/emergency/break-glass/{ref}/review"
    assert as_stranger.post(review + "/prepare", json={"justified": True}).status_code == 403
    words, signed = _prepare_and_sign(as_guardian, review + "/prepare", {"justified": True, "note": "she was unconscious"}, guardian)
    assert "delegate" in words
    assert as_stranger.post(review + "/relay", json=signed).status_code == 403
    assert bg.get(bytes.fromhex(ref[2:])).review == Review.PENDING  # type: ignore[union-attr]
    relayed = as_guardian.post(review + "/relay", json=signed)
    assert relayed.status_code == 200, relayed.text
    access = bg.get(bytes.fromhex(ref[2:]))
    assert access is not None and access.review == Review.JUSTIFIED and access.reviewer == guardian.address


@pytest.fixture
def wallets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    monkeypatch.setenv("HEALTHSILK_WALLET_PASSWORD", "emergency-delegate-test-password")
    monkeypatch.setenv("HEALTHSILK_WALLET_SCRYPT_N", str(2**12))
    monkeypatch.setenv("COLUMNS", "240")
    for name in ("HEALTHSILK_WALLET", "HEALTHSILK_API_URL", "HEALTHSILK_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "patient.json", tmp_path / "guardian.json", tmp_path / "stranger.json"


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def test_delegate_sets_the_policy_and_reviews_from_its_wallet_with_for(emergency_world: EmergencyWorld, wallets: tuple[Path, Path, Path]) -> None:
    world = emergency_world
    api = ("--api", world.hospital.url)
    patient_wallet, guardian_wallet, stranger_wallet = wallets
    for path in wallets:
        assert cli("wallet", "create", "--wallet", str(path)).exit_code == 0
    patient, guardian = KeyFile.read(patient_wallet).address, KeyFile.read(guardian_wallet).address
    as_patient = ("--wallet", str(patient_wallet), *api)
    as_guardian = ("--wallet", str(guardian_wallet), "--for", patient, *api)
    granted = cli("consent", "grant", "--to", world.hospital.address, "--categories", "ALLERGIES,ECG", "--purposes", "TREATMENT", "--days", "30", "--yes", *as_patient)
    assert granted.exit_code == 0, granted.output
    assert cli("delegate", "add", guardian, "--yes", *as_patient).exit_code == 0
    with world.hospital.client() as hospital:
        for resource in (ALLERGY, ECG):
            assert hospital.post(f"/v1/patients/{patient}/records", json=resource).status_code == 201

    # A stranger is refused before anything is signed.
    stranger = cli("emergency", "policy", "set", "--never", "--yes", "--wallet", str(stranger_wallet), "--for", patient, *api)
    assert stranger.exit_code == 1 and "not the delegate of patient" in stranger.output

    set_ = cli("emergency", "policy", "set", "--categories", "ALLERGIES,ECG", "--yes", *as_guardian)
    assert set_.exit_code == 0, set_.output
    assert f"As delegate of patient {patient}, you ({guardian})" in set_.output
    shown = cli("emergency", "policy", "show", "--json", *as_guardian)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["mode"] == "CATEGORIES" and set(json.loads(shown.stdout)["categories"]) == {"ALLERGIES", "ECG"}
    own = json.loads(cli("emergency", "policy", "show", "--json", *as_patient).stdout)
    assert own["mode"] == "CATEGORIES", "the policy is the patient's, as the patient sees it"

    ref = _break_glass(world, patient)
    alerts = cli("alerts", "--json", *as_guardian)
    assert alerts.exit_code == 0, alerts.output
    (alert,) = [a for a in json.loads(alerts.stdout) if a["details"]["break_glass_id"] == ref]
    assert alert["subject"] == patient and alert["reason"] != REASON, "the reason is sealed to the patient's own key"

    reviewed = cli("emergency", "review", ref, "--unjustified", "--note", "no emergency that day", "--yes", *as_guardian)
    assert reviewed.exit_code == 0, reviewed.output
    assert "As delegate of patient" in reviewed.output
    access = BreakGlassLedger(world.net.ledger()).get(bytes.fromhex(ref[2:]))
    assert access is not None and access.review == Review.UNJUSTIFIED and access.reviewer == guardian
