"""The record service against the real network: the chain behind the gateway and Kubo."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from records_world import World, diagnostic_report, ecg_observation, lab_observation

from records import (
    AccessDeniedError,
    AnchorRefusedError,
    InvalidResourceError,
    NoKeyError,
    PayloadTamperedError,
    PutStage,
    RecordErasedError,
    ShareRefusedError,
    UnsupportedResourceError,
    erase,
    read_own,
    share,
)
from records.fhir import validate
from ledger.records import RecordRegistry
from network.ipfs_client import IpfsNotFound
from ledger.vocabulary import Category, Purpose


def accesses(world: World) -> list[tuple[str, int, list[bytes]]]:
    return [(a.reader, a.purpose, a.record_ids) for a in RecordRegistry(world.ledger).accesses_of(world.patient.address)]


@pytest.mark.parametrize(
    ("resource", "category"),
    [(ecg_observation(), Category.ECG), (lab_observation(), Category.LAB), (diagnostic_report(), Category.LAB)],
    ids=["ecg-12-lead", "lab-observation", "diagnostic-report"],
)
def test_put_get_round_trip(world: World, resource: dict, category: Category) -> None:
    put = world.author.put(resource, world.patient.address)
    assert put.created and put.version == 1 and put.category == category.name
    assert set(put.recipients) == {world.patient.address, world.author.address}
    assert put.anchor.author == world.author.address and put.anchor.category == category
    assert world.author.clients.ipfs.is_pinned(put.cid)
    assert world.author.pending() == []

    read = world.author.get(put.record_id, Purpose.TREATMENT)
    assert read.resource == validate(resource, 1 << 25)[1] and read.category == category.name and read.access_logged
    assert accesses(world) == [(world.author.address, int(Purpose.TREATMENT), [put.record_id])]
    # The patient reads its own record in the wallet (no access logged).
    assert read_own(world.patient, put.record_id, world.clients()).resource == read.resource
    assert len(accesses(world)) == 1


def test_reader_without_consent_is_refused_and_nothing_is_logged(world: World) -> None:
    put = world.author.put(lab_observation(), world.patient.address)
    with pytest.raises(AccessDeniedError, match="holds no consent"):
        world.other.get(put.record_id, Purpose.TREATMENT)
    assert accesses(world) == []


def test_grantee_reads_with_purpose_logged_until_revoked(world: World) -> None:
    world.grant(world.other.address, Category.ECG.bit, int(Purpose.TREATMENT | Purpose.RESEARCH))
    put = world.author.put(ecg_observation(samples_per_lead=500), world.patient.address)
    assert world.other.address in put.recipients  # wrapped at put time: its consent covered ECG

    assert world.other.get(put.record_id, Purpose.RESEARCH).resource["code"]["coding"][0]["code"] == "11524-6"
    assert accesses(world) == [(world.other.address, int(Purpose.RESEARCH), [put.record_id])]
    with pytest.raises(AccessDeniedError):
        world.other.get(put.record_id, Purpose.PAYMENT)  # purpose not granted

    world.revoke(world.other.address)
    with pytest.raises(AccessDeniedError):  # the very next read, i.e. the next block
        world.other.get(put.record_id, Purpose.RESEARCH)
    assert len(accesses(world)) == 1


def test_share_gives_a_later_grantee_the_key_and_refuses_out_of_scope_records(world: World) -> None:
    ecg = world.author.put(ecg_observation(samples_per_lead=300), world.patient.address)
    lab = world.author.put(lab_observation(), world.patient.address)
    world.grant(world.other.address, Category.ECG.bit)
    with pytest.raises(NoKeyError, match="must share"):
        world.other.get(ecg.record_id)

    with pytest.raises(ShareRefusedError, match="LAB is outside"):
        share(world.patient, world.other.address, [ecg.record_id, lab.record_id], world.clients())
    bundle = share(world.patient, world.other.address, [ecg.record_id], world.clients())
    restored = type(bundle).model_validate_json(bundle.model_dump_json())  # as sent over the wire
    assert world.other.ingest(restored) == 1
    assert world.other.get(ecg.record_id).version == 1
    with pytest.raises(ShareRefusedError, match="not for"):
        world.author.ingest(restored)  # a bundle only opens for its grantee


def test_erase_shreds_the_record(world: World) -> None:
    world.grant(world.other.address, Category.LAB.bit)
    put = world.author.put(lab_observation(6.1), world.patient.address)
    world.other.ingest(share(world.patient, world.other.address, [put.record_id], world.clients()))

    erase(world.patient, put.record_id, relayer=world.author)
    ipfs = world.author.clients.ipfs
    assert put.cid not in ipfs.pins()
    with pytest.raises(IpfsNotFound):  # GC removed the blocks: the ciphertext is gone from this node
        ipfs.cat(put.cid)
    with pytest.raises(RecordErasedError):
        world.author.get(put.record_id)
    with pytest.raises(RecordErasedError):
        world.other.get(put.record_id)
    assert world.other.keystore.get(put.record_id) is None  # the refused read dropped B's wrap
    with pytest.raises(RecordErasedError):
        read_own(world.patient, put.record_id, world.clients())
    assert accesses(world) == []


def test_invalid_or_unsupported_fhir_changes_nothing(world: World) -> None:
    ipfs = world.author.clients.ipfs
    pins = ipfs.pins()
    bad = lab_observation()
    del bad["code"]
    with pytest.raises(InvalidResourceError, match="invalid FHIR R4B Observation"):
        world.author.put(bad, world.patient.address)
    with pytest.raises(InvalidResourceError, match="unknown FHIR"):
        world.author.put({"resourceType": "NotAResource"}, world.patient.address)
    with pytest.raises(UnsupportedResourceError, match="no record category for FHIR Encounter"):
        world.author.put({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}, world.patient.address)
    assert ipfs.pins() == pins
    assert RecordRegistry(world.ledger).anchors_of(world.patient.address) == []
    assert world.author.pending() == []


@pytest.mark.parametrize("samples", [2500, 6000], ids=["one-chunk-120KB", "two-chunks-290KB"])
def test_tampered_payload_is_detected_and_not_logged(world: World, samples: int) -> None:
    blocks = world.net.settings.ipfs_repo / "blocks"
    before = set(blocks.rglob("*.data"))
    put = world.author.put(ecg_observation(samples_per_lead=samples, seed=7), world.patient.address)
    new_blocks = sorted(set(blocks.rglob("*.data")) - before, key=lambda p: p.stat().st_size)
    # The object's raw leaves: one, or two under a small root. Kubo also writes a tiny unpinned directory block per add.
    leaves = [path for path in new_blocks if path.stat().st_size > 4096]
    assert len(leaves) == (1 if samples == 2500 else 2)
    leaf = new_blocks[-1]  # the largest raw block of the object
    original = leaf.read_bytes()
    damaged = bytearray(original)
    damaged[1000] ^= 0x01
    leaf.write_bytes(bytes(damaged))
    try:
        with pytest.raises(PayloadTamperedError, match="do not match|sha256"):
            world.author.get(put.record_id)
        assert accesses(world) == []
    finally:
        leaf.write_bytes(original)
    assert world.author.get(put.record_id).version == 1


class Crash(Exception):
    pass


@pytest.mark.parametrize("stage", list(PutStage))
def test_retry_after_a_crash_anchors_once_and_leaves_no_orphan(world: World, stage: PutStage) -> None:
    ipfs = world.author.clients.ipfs
    pins = ipfs.pins()

    def crash(at: PutStage) -> None:
        if at is stage:
            raise Crash(at)

    crashing = world.service(world.author.identity, "hospital-a", checkpoint=crash)
    resource = lab_observation(7.2)
    with pytest.raises(Crash):
        crashing.put(resource, world.patient.address)
    assert len(crashing.pending()) == 1

    retried = world.author.put(resource, world.patient.address)  # same data dir, a fresh process
    assert retried.created is (stage is not PutStage.ANCHORED)
    (anchor,) = RecordRegistry(world.ledger).anchors_of(world.patient.address)
    assert anchor.record_id == retried.record_id
    assert ipfs.pins() - pins == {retried.cid}
    assert world.author.pending() == []
    assert world.author.get(retried.record_id).resource["valueQuantity"]["value"] == 7.2


def test_contract_refusal_unpins_and_drops_the_spool(world: World, tmp_path: Path) -> None:
    class PermitEverything:
        def is_permitted(self, patient: str, grantee: str, category_mask: int, purpose: int) -> bool:
            return True

    ipfs = world.author.clients.ipfs
    pins = ipfs.pins()
    clients = world.clients()
    clients.policy = PermitEverything()  # the service believes B may write; the contract knows better
    from records import RecordService

    service = RecordService(world.other.identity, clients, tmp_path / "b-permissive")
    with pytest.raises(AnchorRefusedError, match="NoConsent"):
        service.put(lab_observation(), world.patient.address)
    assert ipfs.pins() == pins and service.pending() == []
    assert RecordRegistry(world.ledger).anchors_of(world.patient.address) == []


def test_superseding_version_and_idempotent_put(world: World) -> None:
    first = world.author.put(lab_observation(5.0), world.patient.address)
    again = world.author.put(lab_observation(5.0), world.patient.address)
    assert not again.created and again.record_id == first.record_id and again.cid == first.cid

    corrected = world.author.put(lab_observation(5.5), world.patient.address, supersedes=first.record_id)
    assert corrected.version == 2 and corrected.anchor.supersedes == first.record_id
    read = world.author.get(corrected.record_id)
    assert read.version == 2 and read.resource["valueQuantity"]["value"] == 5.5
    assert len(RecordRegistry(world.ledger).anchors_of(world.patient.address)) == 2


def test_a_care_flow_put_chooses_its_readers_and_is_anchored_on_its_own(world: World) -> None:
    """`recipients` replaces the consented readers (a case's answer goes to its requester only); `alone` keeps the
    record out of batches even when puts arrive together, because the flow contracts name records by id."""
    world.grant(world.other.address, Category.ECG.bit)
    service = world.service(world.author.identity, "care-put", put_window=0.5)  # a wide window: concurrent puts batch
    try:
        resources = [ecg_observation(samples_per_lead=400 + i) for i in range(3)]
        with ThreadPoolExecutor(3) as pool:
            puts = list(pool.map(lambda r: service.put(r, world.patient.address, recipients=[], alone=True), resources))
        for put in puts:
            assert put.anchor.batch is None and put.created
            assert set(put.recipients) == {world.patient.address, world.author.address}  # not the consented grantee
        with pytest.raises(NoKeyError):
            world.other.get(puts[0].record_id, Purpose.TREATMENT)
        consented = world.author.put(ecg_observation(samples_per_lead=450), world.patient.address)
        assert world.other.address in consented.recipients  # without `recipients`: the consented readers, as before
    finally:
        service.close()
