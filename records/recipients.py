"""Who gets a key wrap when a record is written: the patient, the author, and every member whose live
consent covers the record's category for TREATMENT (later grantees get theirs through a key share)."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from records.errors import PatientKeyMissingError
from records.policy import AccessPolicy
from crypto import CryptoError, HpkePublicKey, normalize_address
from ledger.consent import ConsentLedger
from ledger.registry import ConsortiumRegistry, Member
from ledger.vocabulary import Category, Purpose
from i18n import _

DIRECTORY_CACHE_SECONDS = 5.0


@dataclass
class Recipients:
    keys: dict[str, HpkePublicKey] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # member -> why it got no wrap


def patient_public_key(consents: ConsentLedger, patient: str, raw: bytes | None = None) -> HpkePublicKey:
    """The patient's registered HPKE key (`raw`: as already read from the ConsentLedger, else read now)."""
    raw = consents.patient_key(patient) if raw is None else raw
    if not raw:
        raise PatientKeyMissingError(_("patient {patient} has no HPKE key on the ConsentLedger; register it from the wallet first").format(patient=patient))
    try:
        return HpkePublicKey.from_bytes(raw)
    except CryptoError as exc:
        raise PatientKeyMissingError(_("patient {patient}'s registered HPKE key is unusable: {reason}").format(patient=patient, reason=exc)) from None


def member_public_key(registry: ConsortiumRegistry, address: str) -> HpkePublicKey | None:
    member = registry.member(address)
    if member is None or not member.active:
        return None
    try:
        return HpkePublicKey.from_hex(member.hpke_public_key)
    except CryptoError:
        return None


class MemberDirectory:
    """The registry's member list, re-read at most every `ttl` seconds (2 + members eth_calls per read).

    Members are admitted, suspended and re-keyed only by governance votes, so a put seals for a list at most a few
    seconds old; whether each member may read is still decided per put by the access policy (live consent, active
    member), and a member missed here gets its key through a patient's key share."""

    def __init__(self, registry: ConsortiumRegistry, ttl: float = DIRECTORY_CACHE_SECONDS) -> None:
        self.registry = registry
        self.ttl = ttl
        self._lock = threading.Lock()
        self._members: list[Member] | None = None
        self._read_at = 0.0

    def members(self) -> list[Member]:
        with self._lock:
            if self._members is None or time.monotonic() - self._read_at > self.ttl:
                self._members, self._read_at = self.registry.directory(), time.monotonic()
            return list(self._members)


def resolve(
    *, patient: str, author: str, author_key: HpkePublicKey, category: Category,
    consents: ConsentLedger, registry: ConsortiumRegistry | MemberDirectory, policy: AccessPolicy, patient_key: bytes | None = None,
    only: Collection[str] | None = None,
) -> Recipients:
    """The patient and the author always; then every active member whose consent covers the category for TREATMENT, or,
    with `only`, exactly those members (a care flow decides who reads, e.g. a case's answer goes to its requester only)."""
    recipients = Recipients(keys={patient: patient_public_key(consents, patient, patient_key), author: author_key})
    members = registry.members() if isinstance(registry, MemberDirectory) else registry.directory()
    chosen = None if only is None else {normalize_address(a, "recipient") for a in only}
    for member in members:
        if member.address in recipients.keys or not member.active:
            continue
        if chosen is not None:
            if member.address not in chosen:
                continue
        elif not policy.is_permitted(patient, member.address, category.bit, int(Purpose.TREATMENT)):
            continue
        try:
            recipients.keys[member.address] = HpkePublicKey.from_hex(member.hpke_public_key)
        except CryptoError as exc:
            # A bad directory key must not block the patient's care elsewhere; the share path can fix it later.
            recipients.skipped[member.address] = f"unusable HPKE key in the registry: {exc}"
    return recipients
