"""Key shares: on a new grant the patient's wallet re-wraps in-scope data keys for the grantee; and for a patient's
delegate, an institution re-wraps the keys it holds (records it authored, or shared to it) to the delegate's own
registered HPKE key, so a guardian reads with its own wallet key and never sees the patient's."""

from __future__ import annotations

from eth_utils import to_checksum_address

from crypto import (
    CryptoError,
    HpkePrivateKey,
    Identity,
    RecordContext,
    normalize_address,
    rewrap,
    unwrap_key,
)
from i18n import _
from ledger.vocabulary import Category, Purpose
from records.clients import RecordClients
from records.errors import AccessDeniedError, NoKeyError, RecordError, ShareRefusedError
from records.keystore import KeyStore, StoredWrap
from records.models import KeyShare, KeyShareBundle
from records.reading import locate
from records.recipients import member_public_key, patient_public_key


def share(
    patient: Identity, grantee: str, record_ids: list[bytes], clients: RecordClients, purpose: Purpose = Purpose.TREATMENT
) -> KeyShareBundle:
    """In the wallet: a bundle re-wrapping each record's key to ``grantee``; all or nothing.

    Refused (ShareRefusedError, nothing produced) when any record is not the patient's, is erased or
    unknown, or its category is not covered by the grantee's live consent for ``purpose``.
    """
    grantee = normalize_address(grantee, "grantee")
    if not record_ids:
        raise ShareRefusedError(_("no records to share"))
    grantee_key = member_public_key(clients.registry, grantee)
    if grantee_key is None:
        raise ShareRefusedError(_("{member} is not an active member with a usable HPKE key").format(member=grantee))
    refused: list[str] = []
    shares: list[KeyShare] = []
    for record_id in record_ids:
        rid = "0x" + bytes(record_id).hex()
        try:
            state, anchor = locate(clients, bytes(record_id))
        except RecordError as exc:
            refused.append(_("{record}: {reason}").format(record=rid, reason=exc))
            continue
        if state.patient != patient.address:
            refused.append(_("{record}: not a record of {patient}").format(record=rid, patient=patient.address))
            continue
        category = Category(state.category)
        if not clients.policy.is_permitted(patient.address, grantee, category.bit, int(purpose)):
            refused.append(
                _("{record}: category {category} is outside the consent of {grantee} for {purpose}").format(
                    record=rid, category=category.name, grantee=grantee, purpose=purpose.name
                )
            )
            continue
        obj, _payload = clients.objects.fetch(anchor)
        own = obj.wrap_for(patient.address)
        if own is None:
            refused.append(_("{record}: the object holds no key wrap for the patient").format(record=rid))
            continue
        shares.append(KeyShare(record_id=obj.record_id, version=obj.version, wrap=rewrap(own, obj.context, patient.hpke_key, grantee_key)))
    if refused:
        raise ShareRefusedError(_("key share refused: {reasons}").format(reasons="; ".join(refused)))
    return KeyShareBundle(patient=patient.address, grantee=grantee, shares=shares)


def validate_bundle(bundle: KeyShareBundle, me: str, my_key: HpkePrivateKey, clients: RecordClients) -> list[StoredWrap]:
    """At the grantee: every share must be for us, for a live record of that patient, and unwrap with our key."""
    if normalize_address(bundle.grantee, "grantee") != me:
        raise ShareRefusedError(_("the bundle is for {grantee}, not for {me}").format(grantee=bundle.grantee, me=me))
    patient = normalize_address(bundle.patient, "patient")
    accepted: list[StoredWrap] = []
    for item in bundle.shares:
        rid = "0x" + item.record_id.hex()
        try:
            state, _anchor = locate(clients, item.record_id)
        except RecordError as exc:
            raise ShareRefusedError(_("share for {record} refused: {reason}").format(record=rid, reason=exc)) from None
        if state.patient != patient:
            raise ShareRefusedError(
                _("share for {record} refused: the record belongs to {owner}, not {patient}").format(record=rid, owner=state.patient, patient=patient)
            )
        try:
            # Proves the wrap carries this record's key for this version (HPKE info binds the context).
            unwrap_key(item.wrap, RecordContext(item.record_id, patient, state.category, item.version), my_key)
        except CryptoError as exc:
            raise ShareRefusedError(_("share for {record} refused: {reason}").format(record=rid, reason=exc)) from None
        accepted.append(StoredWrap(item.record_id, patient, item.version, item.wrap))
    return accepted


def rewrap_for_delegate(identity: Identity, clients: RecordClients, keystore: KeyStore, record_id: bytes, delegate: str) -> tuple[str, KeyShare]:
    """At an institution: the record's key re-wrapped to ``delegate``'s registered HPKE key; returns (patient, share).

    Refused unless ``delegate`` is the record's patient's delegate on chain right now (AccessDeniedError), the record
    is live (RecordErasedError, from `locate`) and anchored on its own (AccessDeniedError: the delegate's read is logged
    on chain by record id, DelegateAccessLog, and a batch-anchored record has no id there), the delegate registered an
    HPKE key like a patient does (PatientKeyMissingError), and this institution holds the record's key: it authored the
    record, or the patient shared the key with it (NoKeyError, naming the author whose API can release it instead). Our
    own private key never leaves us; the wrap opens only with the delegate's. Nothing is released here: the caller
    logs the read on chain first (ledger/delegate_reads.py), and the contract checks delegate and key holding again.
    """
    rid = "0x" + bytes(record_id).hex()
    delegate = to_checksum_address(delegate)
    state, anchor = locate(clients, bytes(record_id))
    if anchor.batch is not None:
        raise AccessDeniedError(_("record {record} was anchored in a batch; a delegate's read is logged on chain by record id, which covers records anchored on their own").format(record=rid))
    current = clients.consents.delegate_of(state.patient)
    if not current or to_checksum_address(current) != delegate:
        raise AccessDeniedError(_("{delegate} is not the current delegate of patient {patient}, the patient of record {record}").format(delegate=delegate, patient=state.patient, record=rid))
    delegate_key = patient_public_key(clients.consents, delegate)
    obj, _payload = clients.objects.fetch(anchor)
    own = obj.wrap_for(identity.address)
    if own is None:
        stored = keystore.get(bytes(record_id))
        if stored is None or stored.version != obj.version:
            raise NoKeyError(_("this institution holds no key for record {record}; ask the API of its author {author}").format(record=rid, author=state.author))
        own = stored.wrap
    return state.patient, KeyShare(record_id=obj.record_id, version=obj.version, wrap=rewrap(own, obj.context, identity.hpke_key, delegate_key))
