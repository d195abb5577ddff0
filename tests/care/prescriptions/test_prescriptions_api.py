"""Prescriptions through real institution APIs on geth (issue 14): a prescriber in Yinchuan, two pharmacies in
Benin. The patient presents to both; two concurrent requests race for the last dispense and exactly one wins;
the printed token works once; the pharmacy reads the prescription under it and the read is logged for the patient.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from crypto import Identity
from ledger.care_flows import care_accesses_of
from ledger.prescriptions import Prescriptions
from ledger.vocabulary import Category, Purpose
from tests.care.prescriptions.rx_api import Institution, consent, medication_dispense, medication_request, new_patient, start_institution
from tests.conftest import RunningNetwork
from tests.support.chain_clock import chain_now

DAY = 86400


@dataclass
class Apis:
    net: RunningNetwork
    prescriber: Institution
    lokossa: Institution
    cotonou: Institution


@pytest.fixture(scope="module")
def apis(geth_network: RunningNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apis]:
    root = tmp_path_factory.mktemp("rx-apis")
    started = [
        start_institution(geth_network, root, "Rx Yinchuan Hospital", "CN", ["PROVIDER"]),
        start_institution(geth_network, root, "Rx Lokossa Pharmacy", "BJ", ["PROVIDER", "PHARMACY"]),
        start_institution(geth_network, root, "Rx Cotonou Pharmacy", "BJ", ["PROVIDER", "PHARMACY"]),
    ]
    try:
        yield Apis(geth_network, *started)
    finally:
        for institution in started:
            institution.stop()


def _patient(apis: Apis) -> Identity:
    patient = new_patient(apis.net, apis.prescriber.identity)
    consent(apis.net, patient, apis.prescriber.identity, Category.PRESCRIPTION.bit, int(Purpose.TREATMENT))
    for pharmacy in (apis.lokossa, apis.cotonou):
        consent(apis.net, patient, pharmacy.identity, Category.DISPENSE.bit, int(Purpose.TREATMENT | Purpose.PAYMENT))
    return patient


def _issue(apis: Apis, patient: Identity, **extra: object) -> dict:
    body = {"patient": patient.address, "medication_request": medication_request(), "valid_until": chain_now(apis.net.ledger().w3) + 30 * DAY, **extra}
    reply = apis.prescriber.client().post("/v1/prescriptions", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()


def _present(apis: Apis, patient: Identity, pid: str, pharmacy: Institution) -> None:
    client = pharmacy.client()
    prepared = client.post(f"/v1/prescriptions/{pid}/presentation/prepare", json={"pharmacy": pharmacy.address, "signer": patient.address})
    assert prepared.status_code == 200, prepared.text
    assert pharmacy.name in prepared.json()["summary"]
    typed = prepared.json()["typed_data"]
    signature = patient.account.sign_typed_data(full_message=typed).signature.to_0x_hex()
    reply = client.post(f"/v1/prescriptions/{pid}/presentation", json={"typed_data": typed, "signature": signature})
    assert reply.status_code == 200, reply.text


def test_two_pharmacies_race_for_the_last_dispense_and_exactly_one_wins(apis: Apis) -> None:
    patient = _patient(apis)
    issued = _issue(apis, patient, repeats=1)
    pid = issued["state"]["prescription_id"]
    assert issued["state"]["remaining"] == 2 and issued["token"] is None
    for pharmacy in (apis.lokossa, apis.cotonou):
        _present(apis, patient, pid, pharmacy)

    first = apis.lokossa.client().post(f"/v1/prescriptions/{pid}/dispenses", json={"medication_dispense": medication_dispense()})
    assert first.status_code == 201, first.text
    assert first.json()["state"]["remaining"] == 1

    def attempt(pharmacy: Institution) -> tuple[int, dict]:
        reply = pharmacy.client().post(f"/v1/prescriptions/{pid}/dispenses", json={"medication_dispense": medication_dispense()})
        return reply.status_code, reply.json()

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(attempt, (apis.lokossa, apis.cotonou)))
    codes = sorted(code for code, _ in outcomes)
    assert codes == [201, 409], outcomes
    loser = next(body for code, body in outcomes if code == 409)
    assert loser.get("reason") == "USED_UP" or loser.get("error") == "PrescriptionUsedUp", loser

    state = Prescriptions(apis.net.ledger()).state(bytes.fromhex(pid[2:]))
    assert state is not None and state.dispensed == 2 and state.remaining == 0
    view = apis.prescriber.client().get(f"/v1/prescriptions/{pid}").json()
    assert [d["number"] for d in view["dispenses"]] == [1, 2], "the prescriber sees both dispenses"


def test_refusals_through_the_api_change_nothing(apis: Apis) -> None:
    patient = _patient(apis)
    pid = _issue(apis, patient, single_dispense=True)["state"]["prescription_id"]
    not_presented = apis.cotonou.client().post(f"/v1/prescriptions/{pid}/dispenses", json={"medication_dispense": medication_dispense()})
    assert not_presented.status_code == 409 and not_presented.json()["reason"] == "NOT_PRESENTED"
    verify = apis.cotonou.client().get(f"/v1/prescriptions/{pid}/verify").json()
    assert verify["may_dispense"] is False and verify["status"] == "NOT_PRESENTED"

    # A presentation signed by someone else is refused before any gas is spent.
    stranger = new_patient(apis.net, apis.prescriber.identity)
    client = apis.lokossa.client()
    typed = client.post(f"/v1/prescriptions/{pid}/presentation/prepare", json={"pharmacy": apis.lokossa.address, "signer": patient.address}).json()["typed_data"]
    forged = stranger.account.sign_typed_data(full_message=typed).signature.to_0x_hex()
    reply = client.post(f"/v1/prescriptions/{pid}/presentation", json={"typed_data": typed, "signature": forged})
    assert reply.status_code == 422, reply.text
    assert apis.lokossa.client().get(f"/v1/prescriptions/{pid}/verify").json()["status"] == "NOT_PRESENTED"

    # No consent: nothing is stored.
    stranger_rx = apis.prescriber.client().post("/v1/prescriptions", json={"patient": stranger.address, "medication_request": medication_request(), "valid_until": chain_now(apis.net.ledger().w3) + DAY})
    assert stranger_rx.status_code == 409, stranger_rx.text

    # Only the prescriber cancels.
    assert apis.lokossa.client().post(f"/v1/prescriptions/{pid}/cancel").status_code == 403
    cancelled = apis.prescriber.client().post(f"/v1/prescriptions/{pid}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True


def test_the_printed_token_and_the_read_under_the_prescription(apis: Apis) -> None:
    patient = _patient(apis)
    issued = _issue(apis, patient, print_token=True)
    pid, token = issued["state"]["prescription_id"], issued["token"]
    assert token.startswith("HSRX1:") and issued["token_svg"].startswith("<svg")
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    assert apis.lokossa.client().post("/v1/prescriptions/tokens", json={"token": forged}).status_code == 422
    assert apis.lokossa.client().post("/v1/prescriptions/tokens", json={"token": token}).status_code == 200
    replay = apis.cotonou.client().post("/v1/prescriptions/tokens", json={"token": token})
    assert replay.status_code == 409 and replay.json()["error"] == "TokenAlreadyUsed", replay.text

    # The pharmacy reads the MedicationRequest under the prescription (key released by the prescriber's API).
    read = apis.lokossa.client().get(f"/v1/prescriptions/{pid}/request")
    assert read.status_code == 200, read.text
    assert read.json()["resource"]["resourceType"] == "MedicationRequest"
    assert apis.cotonou.client().get(f"/v1/prescriptions/{pid}/request").status_code == 403
    accesses = care_accesses_of(apis.net.ledger(), patient.address)
    assert [(a.reader, a.ref.hex()) for a in accesses] == [(apis.lokossa.address, pid[2:])], "the pharmacy's read is in the patient's log"
