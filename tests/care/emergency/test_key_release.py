"""Key release (records/key_release.py) refuses everything but a fresh request signed by a reader the flow authorises,
for records the answering institution authored: the author's API is the only party that re-wraps without the patient."""

from __future__ import annotations

import os

import httpx
import pytest
from emergency_world import REASON, EmergencyWorld
from eth_account import Account
from test_emergency_api import _patient

from crypto import Identity
from ledger.care_flows import CareFlowName
from records import RecordClients
from records.key_release import KeyRelease, sign_request


def _clients(world: EmergencyWorld) -> RecordClients:
    return RecordClients.open(world.net.ledger(), world.net.settings.ipfs_url)


def _post(url: str, request: KeyRelease) -> httpx.Response:
    return httpx.post(f"{url}/v1/keys/release", json=request.as_json(), timeout=60)


@pytest.fixture(scope="module")
def opened(emergency_world: EmergencyWorld) -> tuple[dict[str, str], bytes]:
    """A patient whose allergy, medication, ECG and lab result the hospital authored; the ambulance broke the glass."""
    patient, ids = _patient(emergency_world)
    with emergency_world.ambulance.client() as ambulance:
        answer = ambulance.post("/v1/emergency/break-glass", json={"patient": patient.address, "reason_code": "ETREAT", "reason": REASON})
    assert answer.status_code == 201, answer.text
    return ids, bytes.fromhex(answer.json()["id"][2:])


def test_the_author_releases_once_to_the_authorised_reader_and_refuses_a_replay(emergency_world: EmergencyWorld, opened: tuple[dict[str, str], bytes]) -> None:
    ids, ref = opened
    clients = _clients(emergency_world)
    reader: Identity = emergency_world.ambulance.member.identity
    request = sign_request(reader, clients, CareFlowName.emergency, ref, [bytes.fromhex(ids["allergy"][2:])])
    answer = _post(emergency_world.hospital.url, request)
    assert answer.status_code == 200, answer.text
    (wrap,) = answer.json()["wraps"]
    assert wrap["record_id"] == ids["allergy"] and len(wrap["wrap"]) > 2
    replayed = _post(emergency_world.hospital.url, request)
    assert replayed.status_code == 403 and "replayed" in replayed.json()["detail"]


@pytest.mark.parametrize("case", ["stranger-signs", "record-outside-categories", "not-the-author", "expired", "unknown-flow-ref"])
def test_key_release_refusals(emergency_world: EmergencyWorld, opened: tuple[dict[str, str], bytes], case: str) -> None:
    ids, ref = opened
    clients = _clients(emergency_world)
    reader: Identity = emergency_world.ambulance.member.identity
    allergy, lab = bytes.fromhex(ids["allergy"][2:]), bytes.fromhex(ids["lab"][2:])
    url = emergency_world.hospital.url
    if case == "stranger-signs":  # the right reader named, someone else's signature
        good = sign_request(reader, clients, CareFlowName.emergency, ref, [allergy])
        stranger = Identity(account=Account.create(), hpke_key=reader.hpke_key)
        forged = KeyRelease(**{**good.__dict__, "signature": good.typed(clients).sign(stranger.account)})
        request = forged
    elif case == "record-outside-categories":  # the break-glass covers no LAB (the default policy)
        request = sign_request(reader, clients, CareFlowName.emergency, ref, [lab])
    elif case == "not-the-author":  # the ambulance's own API authored none of her records
        request, url = sign_request(reader, clients, CareFlowName.emergency, ref, [allergy]), emergency_world.ambulance.url
    elif case == "expired":
        good = sign_request(reader, clients, CareFlowName.emergency, ref, [allergy])
        stale = KeyRelease(**{**good.__dict__, "deadline": good.deadline - 10_000, "nonce": os.urandom(32), "signature": b""})
        request = KeyRelease(**{**stale.__dict__, "signature": stale.typed(clients).sign(reader.account)})
    else:
        request = sign_request(reader, clients, CareFlowName.emergency, os.urandom(32), [allergy])
    answer = _post(url, request)
    assert answer.status_code == 403, answer.text
    assert answer.json()["type"].endswith("key-release-refused")
