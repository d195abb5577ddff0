"""The institution's own records, decrypted in its own process, as notifiable cases.

What it authored is on chain: RecordAnchored events with `author` = this institution (indexed), and its batches
(RecordBatchAnchored by author, records listed in their IPFS manifests). Each object carries a key wrap for its
author, so the institution decrypts its own records with its own key; these reads stay inside the institution
(the report leaving it holds only suppressed counts), so they are not logged as record accesses.
Only Conditions (SUMMARY) and laboratory results (LAB) are opened; erased records are skipped. Decrypted cases are
cached per record id, so a weekly rebuild opens only the records anchored since the last one.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from care.publichealth.cases import case_of
from crypto import Identity
from ledger.merkle import RecordBatch, parse_manifest
from ledger.records import Anchor, batched_anchors
from ledger.vocabulary import Category
from records.cid import cid_to_bytes, cid_to_text
from records.clients import RecordClients
from records.reading import decrypt

WANTED = {int(Category.SUMMARY), int(Category.LAB)}


@dataclass(frozen=True)
class AuthoredCase:
    patient: str  # stays in this process: used only to count a patient once per disease and week
    disease: str
    week: int
    age_band: str
    sex: str


class AuthoredCases:
    def __init__(self, identity: Identity, clients: RecordClients) -> None:
        self.identity = identity
        self.clients = clients
        self._cases: dict[bytes, AuthoredCase | None] = {}
        self._synced = -1
        self._lock = threading.Lock()

    def all(self) -> list[AuthoredCase]:
        """Every notifiable case in this institution's unerased records (one per patient, disease and week)."""
        with self._lock:
            self._sync()
            erased = self._erased()
            seen: dict[tuple[str, str, int], AuthoredCase] = {}
            for record_id, case in self._cases.items():
                if case is not None and record_id not in erased:
                    seen.setdefault((case.patient, case.disease, case.week), case)
            return list(seen.values())

    def _sync(self) -> None:
        ledger = self.clients.ledger
        head = int(ledger.w3.eth.block_number)
        if head <= self._synced:
            return
        start = max(self._synced + 1, ledger.deployments.contracts["RecordRegistry"].block_number)
        contract = self.clients.records.contract
        from ledger.events import EventReader

        reader = EventReader(ledger.w3, ledger.max_block_range)
        events = reader.read_filtered(contract, "RecordAnchored", start, head, author=self.identity.address)
        anchors = [self.clients.records._anchor_from_event(e) for e in events]
        for batch in self.clients.records.batches(from_block=start, to_block=head, author=self.identity.address):
            records = parse_manifest(self.clients.ipfs.cat(cid_to_text(batch.manifest_cid)), cid_to_bytes)
            anchors += batched_anchors(batch, RecordBatch(records))
        for anchor in anchors:
            if anchor.record_id not in self._cases:
                self._cases[anchor.record_id] = self._open(anchor) if anchor.category in WANTED else None
        self._synced = head

    def _open(self, anchor: Anchor) -> AuthoredCase | None:
        obj, _ = self.clients.objects.fetch(anchor)
        wrap = obj.wrap_for(self.identity.address)
        if wrap is None:
            return None
        resource = json.loads(decrypt(obj, self.identity.hpke_key, wrap))
        found = case_of(resource, lambda: int(self.clients.ledger.w3.eth.get_block(anchor.block_number)["timestamp"]))
        if found is None:
            return None
        disease, week, age, sex = found
        return AuthoredCase(patient=anchor.patient, disease=disease.code, week=week, age_band=age, sex=sex)

    def _erased(self) -> set[bytes]:
        return {bytes(e.args["recordId"]) for e in self.clients.ledger.events("RecordRegistry", "RecordErased")}
