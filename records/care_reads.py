"""Reads that a care flow authorises instead of a consent: a consultant in an approved case, an emergency reader
under a valid break-glass, a pharmacy a prescription was presented to.

    check    the flow contract's `mayRead(reader, ref, recordId)` (the chain decides; nothing is fetched otherwise)
    key      the reader's own wrap in the object, a wrap the patient's wallet shared, or one the author institution
             releases on request (key_release.py); stored for the next read
    decrypt  locally, and re-validate the FHIR resource
    log      `recordsAccessed(ref, [recordId])` on the flow contract: the `CareRecordsAccessed` event is the access log
    release  only after that receipt, as for consented reads

Records anchored in a batch are not identifiable by id on chain, so care flows cover records anchored on their own.
"""

from __future__ import annotations

from records.clients import RecordClients
from records.errors import AccessDeniedError, NoKeyError
from records.key_release import request_keys
from records.keystore import KeyStore
from records.models import RecordRead
from records.read_cache import ReadCache
from records.reading import decrypt, locate, parse_payload
from crypto import Identity
from ledger.care_flows import CareFlowName
from ledger.errors import ContractRevert
from ledger.transactions import TransactionSender
from ledger.vocabulary import Category
from i18n import _


class CareReads:
    def __init__(self, identity: Identity, clients: RecordClients, keystore: KeyStore, sender: TransactionSender, cache: ReadCache) -> None:
        self.identity = identity
        self.clients = clients
        self.keystore = keystore
        self.sender = sender
        self.cache = cache

    @property
    def address(self) -> str:
        return self.identity.address

    def get(self, flow: CareFlowName, ref: bytes, record_id: bytes) -> RecordRead:
        """The record, once its read under `flow` / `ref` is logged on chain; AccessDeniedError when the flow does not
        authorise it, AuthorUnreachable (a NoKeyError) when its author is offline and no one else shared the key."""
        state, anchor = locate(self.clients, record_id)
        rid = "0x" + bytes(record_id).hex()
        if anchor.batch is not None:
            raise AccessDeniedError(_("record {record} was anchored in a batch; care flows cover records anchored on their own").format(record=rid))
        try:
            contract = self.clients.ledger.contract(flow.contract)
        except LookupError:
            raise AccessDeniedError(_("the {flow} flow is not deployed on this network").format(flow=flow.name)) from None
        if not contract.functions.mayRead(self.address, ref, record_id).call():
            raise AccessDeniedError(_("the {flow} 0x{ref} does not let {reader} read record {record}").format(flow=flow.name, ref=ref.hex(), reader=self.address, record=rid))
        obj = self.cache.verified_object(anchor, lambda: self.clients.objects.fetch(anchor))
        wrap = obj.wrap_for(self.address)
        if wrap is None:
            stored = self.keystore.get(anchor.record_id)
            if stored is None or stored.version != obj.version:
                if state.author == self.address:
                    raise NoKeyError(_("record {record} holds no key wrap for its author").format(record=rid))
                self.keystore.put_many(request_keys(self.identity, self.clients, state.author, flow, ref, [anchor.record_id]))
                stored = self.keystore.get(anchor.record_id)
                if stored is None or stored.version != obj.version:
                    raise NoKeyError(_("the author released no key for version {version} of record {record}").format(version=obj.version, record=rid))
            wrap = stored.wrap
        resource = parse_payload(obj, decrypt(obj, self.identity.hpke_key, wrap))
        try:  # no record leaves before its access is on chain
            self.sender.transact(contract.functions.recordsAccessed(ref, [anchor.record_id]))
        except ContractRevert as exc:
            raise AccessDeniedError(_("the chain refused to log this read ({reason}); the record is not returned").format(reason=exc), **AccessDeniedError.consent_facts(exc)) from exc
        return RecordRead(
            record_id=anchor.record_id, version=obj.version, category=Category(anchor.category).name, media_type=obj.media_type,
            resource=resource, anchor=anchor, access_logged=True,
        )
