"""Break-glass emergency access (issue 13): the patient's policy, opening a break-glass, reads under it, the review,
and the emergency summary. No HTTP here: api/routers/emergency.py is a thin layer over this service.

Key release needs no one awake: the reader's reads go through `RecordService.get_under(emergency, id, record)`,
which asks each record's author institution for a re-wrap; the author's API checks `mayRead` on chain by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_utils import keccak, to_checksum_address
from pydantic import BaseModel

from care.emergency_reason import open_reason, seal_reason
from care.summary import SUMMARY_MASK, SummaryInput, build_bundle, newest_versions
from crypto import HpkePrivateKey, Identity
from i18n import _
from i18n.formatting import datetime_text
from i18n.vocabulary import category_display, joined
from ledger.care_flows import CareFlowName
from ledger.consent import ConsentLedger
from ledger.eip712 import TypedMessage
from ledger.emergency import (
    BreakGlassAccess,
    BreakGlassLedger,
    BreakGlassOpened,
    EmergencyPolicy,
    PolicyMode,
    ReasonCode,
    Review,
    as_bytes32,
    hx,
)
from ledger.records import RecordRegistry
from ledger.transactions import TransactionSender
from ledger.vocabulary import Category, Purpose, category_names

SIGNATURE_LIFETIME = 600  # seconds of chain time a prepared message stays valid (as consents: the wallet refuses > 1 h)


class EmergencyError(ValueError):
    """Bad input or a state that refuses the action; nothing was sent."""


class BreakGlassView(BaseModel):
    """A break-glass as people see it: who, why, when, until when, what was read, the review."""

    id: str
    patient: str
    reader: str
    reason_code: str
    categories: list[str]
    opened_at: int
    expires_at: int
    open: bool
    review: str
    reviewer: str | None
    reviewed_at: int | None
    review_deadline: int
    reason_cid: str
    records_read: list[str]
    block_number: int


class EmergencyService:
    """One institution's side of the break-glass flow."""

    def __init__(self, identity: Identity, records: RecordRegistry, consents: ConsentLedger, sender: TransactionSender,
                 ipfs: Any, record_service: Callable[[], Any], now: Callable[[], int]) -> None:
        self.identity = identity
        self.ledger = records.ledger
        self.bg = BreakGlassLedger(self.ledger)
        self.records = records
        self.consents = consents
        self.sender = sender
        self.ipfs = ipfs
        self._record_service = record_service
        self.now = now

    @property
    def address(self) -> str:
        return self.identity.address

    # ------------------------------------------------------------------ policy

    def policy(self, patient: str) -> EmergencyPolicy:
        return self.bg.policy(patient)

    def prepare_policy(self, patient: str, mode: PolicyMode, categories: int, signer: str | None) -> tuple[TypedMessage, str]:
        signer = to_checksum_address(signer or patient)
        self._require_signer(patient, signer)
        try:
            message = self.bg.policy_message(patient, mode, categories, deadline=self.now() + SIGNATURE_LIFETIME, signer=signer)
        except ValueError as exc:
            raise EmergencyError(str(exc)) from None
        return message, policy_words(message.message, signer)

    def relay_policy(self, message: TypedMessage, signature: bytes) -> dict[str, Any]:
        m = message.message
        signer = _signer(message, signature)
        self._require_signer(m["patient"], signer)
        self._check_fresh(m, signer)
        receipt = self.bg.set_policy(self.sender, message, signature)
        return {"block_number": receipt["blockNumber"], "transaction_hash": hx(receipt["transactionHash"])}

    # ------------------------------------------------------------------ break-glass

    def open(self, patient: str, reason: ReasonCode, reason_text: str, categories: int, duration: int) -> BreakGlassOpened:
        """Opens a break-glass as this institution; the reason text is sealed to the patient and put in IPFS first."""
        from records.recipients import patient_public_key

        patient = to_checksum_address(patient)
        try:
            digest, blob = seal_reason(reason_text, patient, patient_public_key(self.consents, patient))
        except ValueError as exc:
            raise EmergencyError(str(exc)) from None
        from records.cid import cid_to_bytes

        cid = cid_to_bytes(self.ipfs.add(blob))
        return self.bg.open(self.sender, patient, reason, digest, categories or self.policy(patient).allowed & SUMMARY_MASK, duration, cid)

    def get(self, break_glass_id: bytes) -> BreakGlassAccess:
        access = self.bg.get(break_glass_id)
        if access is None:
            raise LookupError(_("no break-glass {id}").format(id=hx(break_glass_id)))
        return access

    def read(self, break_glass_id: bytes, record_id: bytes) -> Any:
        """A record under the break-glass (purpose EMERGENCY, logged on chain before it is returned)."""
        return self._record_service().get_under(CareFlowName.emergency, break_glass_id, record_id)

    def reason_blob(self, break_glass_id: bytes) -> bytes:
        opened = [o for o in self.bg.opened() if o.id == bytes(break_glass_id)]
        if not opened or not opened[0].reason_cid:
            raise LookupError(_("no sealed reason for break-glass {id}").format(id=hx(break_glass_id)))
        from records.cid import cid_to_text

        return bytes(self.ipfs.cat(cid_to_text(opened[0].reason_cid)))

    def views(self, patient: str | None = None, reader: str | None = None) -> list[BreakGlassView]:
        opened = self.bg.opened(patient=patient, reader=reader)
        if not opened:
            return []
        reads: dict[bytes, list[str]] = {}
        for ref, _reader, ids, _block in self.bg.reads(patient=patient):
            reads.setdefault(ref, []).extend(hx(r) for r in ids)
        now = self.now()
        out = []
        for o in opened:
            access = self.bg.get(o.id)
            assert access is not None
            out.append(BreakGlassView(
                id=hx(o.id), patient=o.patient, reader=o.reader, reason_code=o.reason_code.name, categories=category_names(o.categories),
                opened_at=o.opened_at, expires_at=o.expires_at, open=now < o.expires_at, review=access.review.name,
                reviewer=access.reviewer, reviewed_at=access.reviewed_at, review_deadline=access.review_deadline,
                reason_cid=_cid_text(o.reason_cid), records_read=list(dict.fromkeys(reads.get(o.id, []))), block_number=o.block_number,
            ))
        return out

    # ------------------------------------------------------------------ review

    def review(self, break_glass_id: bytes, justified: bool, note: str) -> dict[str, Any]:
        """Reviews as this institution (a PRIVACY_OFFICER member; the contract refuses others)."""
        self._require_pending(break_glass_id)
        receipt = self.bg.review(self.sender, break_glass_id, justified, note_hash(note))
        return {"block_number": receipt["blockNumber"], "transaction_hash": hx(receipt["transactionHash"])}

    def prepare_review(self, break_glass_id: bytes, justified: bool, note: str, signer: str | None) -> tuple[TypedMessage, str]:
        access = self._require_pending(break_glass_id)
        signer = to_checksum_address(signer or access.patient)
        self._require_signer(access.patient, signer)
        message = self.bg.review_message(break_glass_id, justified, note_hash(note), signer, deadline=self.now() + SIGNATURE_LIFETIME)
        return message, review_words(access, justified, signer)

    def relay_review(self, message: TypedMessage, signature: bytes) -> dict[str, Any]:
        m = message.message
        signer = _signer(message, signature)
        access = self._require_pending(as_bytes32(m["id"]))
        self._require_signer(access.patient, signer)
        self._check_fresh(m, signer)
        receipt = self.bg.relay_review(self.sender, message, signature)
        return {"block_number": receipt["blockNumber"], "transaction_hash": hx(receipt["transactionHash"])}

    # ------------------------------------------------------------------ the emergency summary

    def summary(self, patient: str, ref: bytes | None = None) -> dict[str, Any]:
        """The IPS-style Bundle of what this institution may read: under break-glass `ref`, or under its consent."""
        patient = to_checksum_address(patient)
        erased = {bytes(e.args["recordId"]) for e in self.ledger.events("RecordRegistry", "RecordErased", patient=patient)}
        anchors = newest_versions(self.records.anchors_of(patient), erased)
        service = self._record_service()
        found = SummaryInput(patient=patient)
        for anchor in anchors:
            try:
                read = service.get_under(CareFlowName.emergency, ref, anchor.record_id) if ref else service.get(anchor.record_id, Purpose.TREATMENT)
            except Exception as exc:  # noqa: BLE001 - one unreadable record leaves its section marked, not the whole summary
                found.missing(anchor.category, anchor.record_id, str(exc) or type(exc).__name__)
                continue
            found.add(anchor.category, anchor.record_id, read.resource)
        return build_bundle(found, self.now(), self.address)

    # ------------------------------------------------------------------ internals

    def _require_signer(self, patient: str, signer: str) -> None:
        allowed = {to_checksum_address(patient)}
        delegate = self.consents.delegate_of(patient)
        if delegate:
            allowed.add(to_checksum_address(delegate))
        if to_checksum_address(signer) not in allowed:
            raise EmergencyError(_("{signer} is neither the patient {patient} nor the patient's delegate").format(signer=signer, patient=patient))

    def _check_fresh(self, m: dict[str, Any], signer: str) -> None:
        if m["deadline"] < self.now():
            raise EmergencyError(_("the signed message's deadline has passed; prepare and sign it again"))
        if m["nonce"] != self.bg.nonce(signer):
            raise EmergencyError(_("the message's nonce is used or out of date; prepare and sign it again"))

    def _require_pending(self, break_glass_id: bytes) -> BreakGlassAccess:
        access = self.get(break_glass_id)
        if access.review != Review.PENDING:
            raise EmergencyError(_("break-glass {id} is already reviewed ({review})").format(id=hx(break_glass_id), review=access.review.name.lower()))
        return access


def note_hash(note: str) -> bytes:
    return keccak(text=note) if note else b"\x00" * 32


def _signer(message: TypedMessage, signature: bytes) -> str:
    try:
        return to_checksum_address(message.recover(signature))
    except Exception:  # noqa: BLE001 - eth-keys raises several types for malformed signatures
        raise EmergencyError(_("the signature is malformed (expected 65 bytes r || s || v)")) from None


def _cid_text(cid: bytes) -> str:
    if not cid:
        return ""
    from records.cid import cid_to_text

    return cid_to_text(cid)


def policy_words(m: dict[str, Any], signer: str) -> str:
    mode = PolicyMode(m["mode"])
    what = {
        PolicyMode.NEVER: _("no one may break the glass on your records"),
        PolicyMode.ALL: _("an emergency service may break the glass on all your records"),
        PolicyMode.CATEGORIES: _("an emergency service may break the glass on these categories only: {categories}").format(
            categories=joined(category_display(category_names(m["categories"])))),
    }.get(mode, "")
    who = _("You ({signer}), as the patient's delegate,").format(signer=signer) if signer != m["patient"] else _("You ({signer})").format(signer=signer)
    return _("{who} set the emergency policy of patient {patient}: {what}. Every break-glass is time-boxed (at most 24 h), "
             "announced to you at once and reviewed. Nonce {nonce}; valid until {deadline}.").format(
        who=who, patient=m["patient"], what=what, nonce=m["nonce"], deadline=datetime_text(m["deadline"]))


def review_words(access: BreakGlassAccess, justified: bool, signer: str) -> str:
    verdict = _("justified") if justified else _("unjustified")
    return _("You ({signer}) judge the break-glass {id} by {reader} on the records of {patient} ({categories}, opened at {opened}) "
             "as {verdict}. A break-glass is reviewed once.").format(
        signer=signer, id=hx(access.id), reader=access.reader, patient=access.patient, categories=joined(category_display(category_names(access.categories))),
        opened=datetime_text(access.opened_at), verdict=verdict)


def reason_text(blob: bytes, access_reason_hash: bytes, patient: str, key: HpkePrivateKey) -> str:
    """The break-glass reason, opened with the patient's key (wallet side)."""
    return open_reason(blob, access_reason_hash, patient, key)


__all__ = ["BreakGlassView", "Category", "EmergencyError", "EmergencyService", "PolicyMode", "ReasonCode"]
