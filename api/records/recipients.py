"""Who gets a key wrap when a record is written: the patient, the author, and every member whose live
consent covers the record's category for TREATMENT (later grantees get theirs through a key share)."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.records.errors import PatientKeyMissingError
from api.records.policy import AccessPolicy
from crypto import CryptoError, HpkePublicKey
from ledger.consent import ConsentLedger
from ledger.registry import ConsortiumRegistry
from ledger.vocabulary import Category, Purpose


@dataclass
class Recipients:
    keys: dict[str, HpkePublicKey] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # member -> why it got no wrap


def patient_public_key(consents: ConsentLedger, patient: str) -> HpkePublicKey:
    raw = consents.patient_key(patient)
    if not raw:
        raise PatientKeyMissingError(f"patient {patient} has no HPKE key on the ConsentLedger; register it from the wallet first")
    try:
        return HpkePublicKey.from_bytes(raw)
    except CryptoError as exc:
        raise PatientKeyMissingError(f"patient {patient}'s registered HPKE key is unusable: {exc}") from None


def member_public_key(registry: ConsortiumRegistry, address: str) -> HpkePublicKey | None:
    member = registry.member(address)
    if member is None or not member.active:
        return None
    try:
        return HpkePublicKey.from_hex(member.hpke_public_key)
    except CryptoError:
        return None


def resolve(
    *, patient: str, author: str, author_key: HpkePublicKey, category: Category,
    consents: ConsentLedger, registry: ConsortiumRegistry, policy: AccessPolicy,
) -> Recipients:
    recipients = Recipients(keys={patient: patient_public_key(consents, patient), author: author_key})
    for member in registry.directory():
        if member.address in recipients.keys or not member.active:
            continue
        if not policy.is_permitted(patient, member.address, category.bit, int(Purpose.TREATMENT)):
            continue
        try:
            recipients.keys[member.address] = HpkePublicKey.from_hex(member.hpke_public_key)
        except CryptoError as exc:
            # A bad directory key must not block the patient's care elsewhere; the share path can fix it later.
            recipients.skipped[member.address] = f"unusable HPKE key in the registry: {exc}"
    return recipients
