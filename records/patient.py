"""What the patient's wallet does with records: read its own (no access log: the data subject reading
their own data is not a third-party access, and patients are not members who can send transactions)."""

from __future__ import annotations

from records.clients import RecordClients
from records.errors import AccessDeniedError, NoKeyError
from records.models import RecordRead
from records.reading import decrypt, locate, parse_payload
from crypto import Identity
from ledger.vocabulary import Category
from i18n import _


def read_own(patient: Identity, record_id: bytes, clients: RecordClients) -> RecordRead:
    state, anchor = locate(clients, record_id)
    if state.patient != patient.address:
        raise AccessDeniedError(_("record 0x{record} is not a record of {patient}").format(record=bytes(record_id).hex(), patient=patient.address))
    obj, _raw = clients.objects.fetch(anchor)
    wrap = obj.wrap_for(patient.address)
    if wrap is None:
        raise NoKeyError(_("record 0x{record} holds no key wrap for its patient").format(record=bytes(record_id).hex()))
    resource = parse_payload(obj, decrypt(obj, patient.hpke_key, wrap))
    return RecordRead(
        record_id=anchor.record_id, version=obj.version, category=Category(state.category).name, media_type=obj.media_type,
        resource=resource, anchor=anchor, access_logged=False,
    )
