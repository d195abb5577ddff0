"""Invalid FHIR codes through the API: a required binding refused with 422 naming field, value and allowed codes,
and nothing stored (no pin on IPFS, no anchor, no transaction from the API's sender, nothing spooled)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from api_world import ApiWorld, assert_problem, ecg_observation, lab_observation

from crypto import Identity
from ledger.records import RecordRegistry

OBSERVATION_STATUS = ["registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"]


@contextmanager
def nothing_stored(api: ApiWorld, patient: Identity) -> Iterator[None]:
    """Assert that the block inside leaves IPFS pins, the patient's anchors, the API's nonce and spool as they were."""
    ledger = api.net.ledger()
    service = api.app.state.services.record_service
    ipfs = service.clients.ipfs  # the API's own IPFS client (it holds the node's RPC credentials)
    pins, nonce = ipfs.pins(), ledger.w3.eth.get_transaction_count(api.hospital.address)
    yield
    assert ipfs.pins() == pins, "a refused upload left a pin"
    assert ledger.w3.eth.get_transaction_count(api.hospital.address) == nonce, "a refused upload sent a transaction"
    assert RecordRegistry(ledger).anchors_of(patient.address) == [], "a refused upload was anchored"
    assert service.pending() == [], "a refused upload was spooled"


def _consenting_patient(api: ApiWorld) -> Identity:
    patient = api.new_patient()
    api.grant(patient, api.hospital.address, ["ECG", "LAB"])
    return patient


def _upload(api: ApiWorld, patient: Identity, resource: dict[str, Any]) -> Any:
    return api.as_scope("write").post(f"/v1/patients/{patient.address}/records", json=resource)


def test_observation_status_done_is_refused_and_nothing_is_stored(api: ApiWorld) -> None:
    patient = _consenting_patient(api)
    done = dict(lab_observation(), status="done")
    with nothing_stored(api, patient):
        problem = assert_problem(_upload(api, patient, done), 422, "invalid-fhir")
    first = problem["errors"][0]
    assert first["field"] == "status" and first["value"] == "done" and first["allowed"] == OBSERVATION_STATUS
    assert first["location"] == "body.status" and "'done'" in first["message"] and "observation-status" in first["message"]
    assert len(problem["errors"]) == 1
    assert "status: 'done' is not a code" in problem["detail"] and "errors.pydantic.dev" not in problem["detail"]

    # the same resource with a valid status is stored: the refusal was the code, not the patient or the consent
    stored = _upload(api, patient, lab_observation())
    assert stored.status_code == 201, stored.text
    assert len(RecordRegistry(api.net.ledger()).anchors_of(patient.address)) == 1


def test_a_bundle_with_one_bad_code_stores_no_entry(api: ApiWorld) -> None:
    patient = _consenting_patient(api)
    bundle = {
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": ecg_observation(seed=11)}, {"resource": dict(lab_observation(), status="done")}],
    }
    with nothing_stored(api, patient):
        problem = assert_problem(_upload(api, patient, bundle), 422, "invalid-fhir")
    (issue,) = problem["errors"]
    assert issue["field"] == "entry[1].resource.status" and issue["value"] == "done" and issue["allowed"] == OBSERVATION_STATUS


def test_structural_errors_are_listed_per_field(api: ApiWorld) -> None:
    patient = _consenting_patient(api)
    broken = lab_observation()
    del broken["code"]
    broken["valueQuantity"]["comparator"] = "about"  # not reached: structure is checked first
    with nothing_stored(api, patient):
        problem = assert_problem(_upload(api, patient, broken), 422, "invalid-fhir")
    assert problem["errors"] == [{"location": "body.code", "field": "code", "value": None, "message": "required element is missing"}]
    assert "validation error for" not in problem["detail"]
