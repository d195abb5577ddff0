"""The read cache validates a version's FHIR payload once, and only ever reuses that for the very same plaintext."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledger.records import Anchor
from records.errors import InvalidResourceError
from records.fhir import parse_stored, validate
from records.read_cache import ReadCache

OBSERVATION = {
    "resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
    "valueQuantity": {"value": 13.5, "unit": "g/dL"},
}


def anchor(record: int, cid: int = 1) -> Anchor:
    return Anchor(
        record_id=bytes([record]) * 32, patient="0x" + "11" * 20, author="0x" + "22" * 20, category=1, content_hash=b"\x00" * 32,
        cid=bytes([cid]) * 36, supersedes=b"\x00" * 32, consent_id=b"\x00" * 32, block_number=1, transaction_hash="0x" + "00" * 32,
    )


class CountingValidator:
    """The real FHIR validation, counted."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, payload: bytes) -> dict[str, Any]:
        self.calls += 1
        return parse_stored(payload)[1]


def canonical(resource: dict[str, Any]) -> bytes:
    return validate(resource, 1 << 20)[2]


def test_a_version_is_validated_once_and_parsed_afresh_per_read() -> None:
    cache, check = ReadCache(), CountingValidator()
    payload = canonical(OBSERVATION)
    first = cache.validated_resource(anchor(1), payload, check)
    second = cache.validated_resource(anchor(1), payload, check)
    assert check.calls == 1 and first == second == parse_stored(payload)[1]
    second["status"] = "amended"  # a caller changing its copy changes nobody else's
    assert cache.validated_resource(anchor(1), payload, check)["status"] == "final"
    assert cache.stats()["validated_hits"] == 2 and cache.stats()["validated_misses"] == 1


def test_other_plaintext_under_the_same_version_is_validated_again() -> None:
    cache, check = ReadCache(), CountingValidator()
    cache.validated_resource(anchor(2), canonical(OBSERVATION), check)
    other = canonical({**OBSERVATION, "valueQuantity": {"value": 9.1, "unit": "g/dL"}})
    assert cache.validated_resource(anchor(2), other, check)["valueQuantity"]["value"] == 9.1
    assert check.calls == 2
    with pytest.raises(InvalidResourceError):  # never served from the cache: it was never validated
        cache.validated_resource(anchor(2), json.dumps({"resourceType": "Observation", "status": 7}).encode(), check)
    cache.validated_resource(anchor(2, cid=3), canonical(OBSERVATION), check)  # another version: validated on its own
    assert check.calls == 4


def test_an_invalid_payload_is_never_remembered_and_eviction_forgets() -> None:
    cache, check = ReadCache(), CountingValidator()
    bad = json.dumps({"resourceType": "Observation", "status": 7}).encode()
    for _ in range(2):
        with pytest.raises(InvalidResourceError):
            cache.validated_resource(anchor(3), bad, check)
    assert check.calls == 2
    payload = canonical(OBSERVATION)
    cache.validated_resource(anchor(3), payload, check)
    cache.evict(anchor(3).record_id)  # erased
    cache.validated_resource(anchor(3), payload, check)
    assert check.calls == 4
