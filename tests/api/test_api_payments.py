"""E-card payments through the institution API: a payer's API and a provider's API on the real network.

The session's API (tests/api/conftest.py) is the provider: its hospital is a PROVIDER member that uploads the
evidence records. This module adds a PAYER member running its own API, which creates a programme, empanels the
hospital and funds the escrow once; each test then issues cards to its own fresh patients.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from api_world import ApiWorld, Member, admit, assert_problem
from eth_account import Account

from crypto import HpkePrivateKey, Identity
from ledger.payments import HealthCardPayments
from tests.support.served_api import served_api

YEAR = 365 * 86400
FUNDING = 5_000_000
PROGRAMME = {"name": "Kazakhstan cross-border care", "currency": "KZT", "default_annual_limit": 1_000_000, "auto_approval_threshold": 200_000, "pre_auth_validity_seconds": 7 * 86400}


@dataclass
class Payer:
    member: Member
    url: str
    token: str
    programme_id: int


@pytest.fixture(scope="module")
def payer(api: ApiWorld) -> Iterator[Payer]:
    """A PAYER member's own API; it creates, empanels and funds the programme the tests share."""
    member = admit(api.net, "api-payer-kz", "Kazakhstan Social Health Insurance Fund", "KZ", ["PAYER"])
    with served_api(api.net, member.identity, api.data_dir.parent / "payer-api", name="api-payer-tests") as served:
        token = served.token("payer-tests", {"read", "write", "audit"})
        with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            created = client.post("/v1/payments/programmes", json=PROGRAMME)
            assert created.status_code == 201, created.text
            programme = created.json()
            assert programme["payer"] == member.address and programme["payer_name"] == member.name and programme["currency"] == "KZT"
            empanelled = client.post(f"/v1/payments/programmes/{programme['programme_id']}/providers", json={"provider": api.hospital.address, "empanelled": True})
            assert empanelled.status_code == 200 and empanelled.json()["empanelled"] is True, empanelled.text
            funded = client.post(f"/v1/payments/programmes/{programme['programme_id']}/escrow", json={"amount": FUNDING})
            assert funded.status_code == 200 and funded.json()["escrow_balance"] == FUNDING, funded.text
        yield Payer(member, served.url, token, int(programme["programme_id"]))


@pytest.fixture
def payer_http(payer: Payer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=payer.url, headers={"Authorization": f"Bearer {payer.token}"}, timeout=60) as client:
        yield client


def issue_card(api: ApiWorld, payer_http: httpx.Client, programme_id: int, patient: str, **extra: Any) -> int:
    answer = payer_http.post(f"/v1/payments/programmes/{programme_id}/cards", json={"patient": patient, "annual_limit": 0, "valid_until": api.now() + YEAR, **extra})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["card_id"])


def submit_claim(api: ApiWorld, card_id: int, record_id: str, amount: int = 150_000, package: str = "CARDIO-CONSULT", pre_auth_id: int = 0) -> httpx.Response:
    return api.as_scope("write").post("/v1/payments/claims", json={"card_id": card_id, "record_id": record_id, "package_code": package, "amount": amount, "pre_auth_id": pre_auth_id})


def test_claim_is_confirmed_by_the_patient_and_paid(api: ApiWorld, payer: Payer, payer_http: httpx.Client) -> None:
    patient, record = api.patient_with_record()
    card_id = issue_card(api, payer_http, payer.programme_id, patient.address)
    provider = api.as_scope("all")
    eligibility = provider.get(f"/v1/payments/cards/{card_id}/eligibility").json()
    assert eligibility == {"card_id": card_id, "eligible": True, "remaining": 1_000_000, "valid_until": eligibility["valid_until"]}

    # Below the programme's threshold, pre-authorisation is immediate; the claim then uses it.
    pre_auth = provider.post("/v1/payments/pre-auths", json={"card_id": card_id, "package_code": "CARDIO-CONSULT", "amount": 150_000})
    assert pre_auth.status_code == 201 and pre_auth.json()["auto_approved"] is True and pre_auth.json()["status"] == "APPROVED", pre_auth.text
    submitted = submit_claim(api, card_id, record["record_id"], 120_000, pre_auth_id=pre_auth.json()["pre_auth_id"])
    assert submitted.status_code == 201, submitted.text
    claim_id = submitted.json()["claim_id"]
    claim = provider.get(f"/v1/payments/claims/{claim_id}").json()
    assert (claim["status"], claim["confirmed"], claim["amount_text"], claim["provider_name"]) == ("SUBMITTED", False, "1,200.00 KZT", api.hospital.name)
    assert api.hospital.name in claim["summary"] and "1,200.00 KZT" in claim["summary"] and "waiting for your confirmation" in claim["summary"]

    # Without the patient's word the payer must say it overrides; a payer never pays twice.
    refused = assert_problem(payer_http.post(f"/v1/payments/claims/{claim_id}/approve", json={"override_confirmation": False}), 409)
    assert refused["error"] == "ClaimNotConfirmed"

    # The patient sees the card and the claim, and confirms it: prepare -> sign in the wallet -> relay.
    as_patient = api.as_patient(patient)
    (card,) = as_patient.get(f"/v1/patients/{patient.address}/cards").json()
    assert (card["card_id"], card["programme_name"], card["currency"], card["reserved"], card["remaining"], card["status"]) == (card_id, PROGRAMME["name"], "KZT", 120_000, 880_000, "ACTIVE")
    (listed,) = as_patient.get(f"/v1/patients/{patient.address}/claims").json()
    assert listed["claim_id"] == claim_id and listed["confirmed"] is False and listed["summary"] == claim["summary"]
    prepared = as_patient.post(f"/v1/payments/claims/{claim_id}/confirmation/prepare")
    assert prepared.status_code == 200, prepared.text
    typed = prepared.json()["typed_data"]
    assert typed["primaryType"] == "ConfirmClaim" and typed["message"]["amount"] == 120_000 and "you received the care" in prepared.json()["summary"]
    network = as_patient.get("/v1/network").json()
    assert typed["domain"]["verifyingContract"] == network["contracts"]["HealthCardPayments"] and typed["domain"]["chainId"] == network["chain_id"]
    signature = patient.account.sign_typed_data(full_message=typed).signature.to_0x_hex()

    tampered = {**typed, "message": {**typed["message"], "amount": 1}}
    assert_problem(as_patient.post(f"/v1/payments/claims/{claim_id}/confirmation", json={"typed_data": tampered, "signature": signature}), 422)
    relayed = as_patient.post(f"/v1/payments/claims/{claim_id}/confirmation", json={"typed_data": typed, "signature": signature})
    assert relayed.status_code == 200, relayed.text
    assert relayed.json()["signer"] == patient.address and relayed.json()["block_number"] > 0
    assert_problem(as_patient.post(f"/v1/payments/claims/{claim_id}/confirmation", json={"typed_data": typed, "signature": signature}), 409, "claim-already-confirmed")
    assert as_patient.get(f"/v1/payments/claims/{claim_id}").json()["confirmed"] is True

    paid = payer_http.post(f"/v1/payments/claims/{claim_id}/approve", json={"override_confirmation": False})
    assert paid.status_code == 200, paid.text
    assert paid.json()["paid"] is True and paid.json()["amount"] == 120_000 and paid.json()["confirmation_overridden"] is False
    again = assert_problem(payer_http.post(f"/v1/payments/claims/{claim_id}/approve", json={}), 409)
    assert again["error"] == "InvalidClaimStatus"
    assert HealthCardPayments(api.net.ledger()).token_balance(api.hospital.address) >= 120_000

    cash = payer_http.post(f"/v1/payments/cards/{card_id}/disbursements", json={"purpose_code": "TRAVEL", "amount": 30_000})
    assert cash.status_code == 201 and cash.json()["patient"] == patient.address, cash.text

    history = as_patient.get(f"/v1/payments/cards/{card_id}/history").json()
    events = [entry["event"] for entry in history]
    assert events[0] == "CardIssued" and {"ClaimSubmitted", "ClaimConfirmed", "ClaimPaid", "CashDisbursed"} <= set(events)
    words = " ".join(entry["words"] for entry in history)
    assert "1,200.00 KZT to " + api.hospital.name in words and "confirmed by the patient" in words and "300.00 KZT paid to the patient for TRAVEL" in words
    statement = payer_http.get(f"/v1/payments/programmes/{payer.programme_id}/statement").json()
    assert statement["balanced"] is True and statement["funded"] == FUNDING and statement["paid"] >= 120_000 and statement["overridden_payments"] == 0
    assert statement["escrow"] == FUNDING - statement["paid"] - statement["disbursed"] and statement["entries"][0]["event"] == "ProgrammeCreated"


def test_only_the_programme_payer_administers_it(api: ApiWorld, payer: Payer, payer_http: httpx.Client) -> None:
    provider = api.as_scope("write")
    not_payer = assert_problem(provider.post("/v1/payments/programmes", json=PROGRAMME), 403)
    assert not_payer["error"] == "NotActivePayer"
    assert assert_problem(provider.post(f"/v1/payments/programmes/{payer.programme_id}/escrow", json={"amount": 5}), 403)["error"] == "NotProgrammePayer"
    patient = api.new_patient(register=False)
    assert assert_problem(provider.post(f"/v1/payments/programmes/{payer.programme_id}/cards", json={"patient": patient.address, "valid_until": api.now() + YEAR}), 403)["error"] == "NotProgrammePayer"
    assert_problem(api.as_scope("read").post(f"/v1/payments/programmes/{payer.programme_id}/escrow", json={"amount": 5}), 403)  # scope write needed
    assert_problem(payer_http.post("/v1/payments/programmes", json={**PROGRAMME, "currency": "kzt"}), 422)
    assert_problem(payer_http.get("/v1/payments/programmes/999999/statement"), 404)
    assert assert_problem(payer_http.post("/v1/payments/cards/999999/suspend"), 404)["error"] == "UnknownCard"

    card_id = issue_card(api, payer_http, payer.programme_id, patient.address, annual_limit=50_000)
    assert assert_problem(payer_http.post(f"/v1/payments/programmes/{payer.programme_id}/cards", json={"patient": patient.address, "valid_until": api.now() + YEAR}), 409)["error"] == "CardAlreadyIssued"
    assert payer_http.post(f"/v1/payments/cards/{card_id}/suspend").json()["status"] == "SUSPENDED"
    assert api.as_scope("read").get(f"/v1/payments/cards/{card_id}/eligibility").json()["eligible"] is False
    assert payer_http.post(f"/v1/payments/cards/{card_id}/reactivate").json()["status"] == "ACTIVE"
    renewed = payer_http.post(f"/v1/payments/cards/{card_id}/renew", json={"annual_limit": 80_000, "valid_until": api.now() + 2 * YEAR})
    assert renewed.status_code == 200 and renewed.json()["annual_limit"] == 80_000, renewed.text

    # A pre-authorisation at or above the threshold waits for the payer.
    big = provider.post("/v1/payments/pre-auths", json={"card_id": card_id, "package_code": "SURGERY", "amount": 60_000})
    assert big.status_code == 201 and big.json()["auto_approved"] is True  # 60,000 < 200,000: immediate
    assert assert_problem(provider.post("/v1/payments/pre-auths", json={"card_id": card_id, "package_code": "SURGERY", "amount": 30_000}), 409)["error"] == "LimitExceeded"


def test_pending_pre_auth_is_decided_by_the_payer(api: ApiWorld, payer: Payer, payer_http: httpx.Client) -> None:
    patient = api.new_patient(register=False)
    card_id = issue_card(api, payer_http, payer.programme_id, patient.address)
    provider = api.as_scope("write")
    pending = provider.post("/v1/payments/pre-auths", json={"card_id": card_id, "package_code": "CARDIAC-SURGERY", "amount": 500_000}).json()
    assert pending["auto_approved"] is False and pending["status"] == "REQUESTED" and pending["expires_at"] == 0
    assert assert_problem(provider.post(f"/v1/payments/pre-auths/{pending['pre_auth_id']}/approve", json={"expires_at": api.now() + 86400}), 403)["error"] == "NotProgrammePayer"
    approved = payer_http.post(f"/v1/payments/pre-auths/{pending['pre_auth_id']}/approve", json={"expires_at": api.now() + 86400})
    assert approved.status_code == 200 and approved.json()["status"] == "APPROVED", approved.text
    second = provider.post("/v1/payments/pre-auths", json={"card_id": card_id, "package_code": "REHAB", "amount": 300_000}).json()
    rejected = payer_http.post(f"/v1/payments/pre-auths/{second['pre_auth_id']}/reject", json={"reason_code": 7})
    assert rejected.status_code == 200 and rejected.json()["status"] == "REJECTED"


def test_claims_need_an_empanelled_provider_and_consented_evidence(api: ApiWorld, payer: Payer, payer_http: httpx.Client) -> None:
    patient, record = api.patient_with_record()
    card_id = issue_card(api, payer_http, payer.programme_id, patient.address)

    # Another programme of the same payer, where the hospital is not empanelled.
    other = payer_http.post("/v1/payments/programmes", json={**PROGRAMME, "name": "Benin-Kazakhstan pilot"})
    assert other.status_code == 201, other.text
    other_card = issue_card(api, payer_http, other.json()["programme_id"], patient.address)
    assert assert_problem(submit_claim(api, other_card, record["record_id"]), 403)["error"] == "NotEmpanelled"
    cards = api.as_patient(patient).get(f"/v1/patients/{patient.address}/cards").json()
    assert sorted(c["card_id"] for c in cards) == sorted([card_id, other_card])

    # Evidence must be the card's patient's record, and the hospital must still hold the patient's consent to it.
    stranger, strangers_record = api.patient_with_record()
    assert assert_problem(submit_claim(api, card_id, strangers_record["record_id"]), 422)["error"] == "RecordPatientMismatch"
    api.relay_signed(patient, {"action": "revoke", "patient": patient.address, "grantee": api.hospital.address})
    assert assert_problem(submit_claim(api, card_id, record["record_id"]), 409)["error"] == "EvidenceNotAccessible"
    assert api.as_patient(patient).get(f"/v1/patients/{patient.address}/claims").json() == []

    # A claim on the stranger's own card: our patient can neither read nor confirm it.
    strangers_card = issue_card(api, payer_http, payer.programme_id, stranger.address)
    claim = submit_claim(api, strangers_card, strangers_record["record_id"])
    assert claim.status_code == 201, claim.text
    claim_id = claim.json()["claim_id"]
    as_patient = api.as_patient(patient)
    assert_problem(as_patient.get(f"/v1/payments/claims/{claim_id}"), 403)
    assert_problem(as_patient.get(f"/v1/payments/cards/{strangers_card}/history"), 403)
    assert_problem(as_patient.get(f"/v1/patients/{stranger.address}/claims"), 403)
    assert_problem(as_patient.post(f"/v1/payments/claims/{claim_id}/confirmation/prepare"), 403)
    typed = api.as_patient(stranger).post(f"/v1/payments/claims/{claim_id}/confirmation/prepare").json()["typed_data"]
    forged = patient.account.sign_typed_data(full_message=typed).signature.to_0x_hex()
    assert_problem(as_patient.post(f"/v1/payments/claims/{claim_id}/confirmation", json={"typed_data": typed, "signature": forged}), 403)
    # Relayed by an institution, a signature by anyone but the patient is refused before any gas is spent.
    outsider = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    bad = outsider.account.sign_typed_data(full_message=typed).signature.to_0x_hex()
    assert "neither the patient" in assert_problem(api.as_scope("relay").post(f"/v1/payments/claims/{claim_id}/confirmation", json={"typed_data": typed, "signature": bad}), 422)["detail"]
    assert api.as_scope("read").get(f"/v1/payments/claims/{claim_id}").json()["confirmed"] is False

    # The payer may pay without confirmation only by saying so; auditors see the override.
    paid = payer_http.post(f"/v1/payments/claims/{claim_id}/approve", json={"override_confirmation": True}).json()
    assert paid["paid"] is True and paid["confirmation_overridden"] is True
    assert payer_http.get(f"/v1/payments/programmes/{payer.programme_id}/statement").json()["overridden_payments"] >= 1
