"""After a grant: re-wrap the data keys of the records the consent covers for the grantee.

The wallet fetches each sealed record object, unwraps the data key with the patient's own HPKE key
and wraps it again to the grantee's registered HPKE public key; only the wraps leave the wallet.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from crypto import CryptoError, HpkePublicKey, rewrap
from crypto.record_object import RecordObject
from i18n import _
from ledger.vocabulary import Category
from wallet.client import ApiClient
from wallet.errors import WalletError
from wallet.session import PatientSession

# The record listing's field for the record's data time (what a consent's data period is checked against).
_TIME_FIELDS = ("anchored_time", "data_time")
SHARES_PER_REQUEST = 500  # the API caps one request at 1000 wraps


@dataclass
class ShareResult:
    shared: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    via: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"shared": self.shared, "already_shared": self.already, "skipped": self.skipped, "via": self.via}


def category_code(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(Category[str(value).upper()])
    except KeyError:
        return None


def _in_data_period(row: dict[str, Any], data_from: int, data_until: int) -> bool | None:
    """True/False when the listing gives the record's time; None when it can't be told."""
    if not data_from and not data_until:
        return True
    for name in _TIME_FIELDS:
        value = row.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return data_from <= value and (data_until == 0 or value < data_until)
    return None


def open_sealed(session: PatientSession, record_id: str, expected_hash: str | None = None) -> RecordObject:
    """Fetch a sealed record object and check it is this record, this patient's, and the anchored bytes."""
    data = session.client.sealed(record_id)
    if expected_hash and "0x" + hashlib.sha256(data).hexdigest() != expected_hash.lower():
        raise WalletError(_("The sealed record {record} does not match the hash anchored on the ledger.").format(record=record_id), _("Do not trust its content; tell the institution."))
    obj = RecordObject.decode(data)
    if "0x" + obj.record_id.hex() != record_id.lower():
        raise WalletError(_("The API sent record {sent} when asked for {record}.").format(sent="0x" + obj.record_id.hex(), record=record_id), _("Tell the institution."))
    if obj.patient != session.address:
        raise WalletError(_("Record {record} belongs to another patient.").format(record=record_id), _("Tell the institution."))
    return obj


def grantee_api(session: PatientSession, grantee: dict[str, Any]) -> AbstractContextManager[ApiClient]:
    """Each institution stores only wraps made for itself: this API if it is the grantee's, else the grantee's own."""
    address = to_checksum_address(str(grantee["address"]))
    return session.member_api(address, lambda name: WalletError(
        _("{institution} publishes no API address in the consortium directory, so its record keys can't be delivered now.").format(institution=name),
        _("When you know its API address, run: healthsilk consent share-keys --to {address} --api <its API URL>").format(address=address),
    ))


def share_keys(session: PatientSession, grantee: dict[str, Any], categories: int, data_from: int = 0, data_until: int = 0) -> ShareResult:
    """Re-wrap the keys of the patient's records in scope of (categories, data period) for ``grantee``."""
    try:
        grantee_key = HpkePublicKey.from_hex(str(grantee.get("hpke_public_key")))
    except (CryptoError, ValueError) as exc:
        raise WalletError(_("{institution} has no usable encryption key on the ledger ({error}).").format(institution=grantee.get("name"), error=exc), _("Ask the consortium to fix its registration.")) from None
    grantee_address = to_checksum_address(str(grantee["address"]))
    me = session.address
    own_key = session.identity.hpke_key
    result = ShareResult()
    wraps: dict[str, str] = {}
    for row in session.client.records(me):
        record_id = str(row.get("record_id"))
        code = category_code(row.get("category"))
        if row.get("erased") or code is None or not categories & (1 << code):
            continue
        in_period = _in_data_period(row, data_from, data_until)
        if in_period is False:
            continue
        if in_period is None:
            result.skipped[record_id] = _("the API does not say when the record was made, so the data period can't be checked")
            continue
        try:
            obj = open_sealed(session, record_id, row.get("content_hash"))
            if obj.wrap_for(grantee_address) is not None:
                result.already.append(record_id)
                continue
            own_wrap = obj.wrap_for(me)
            if own_wrap is None:
                result.skipped[record_id] = _("the record carries no key for you")
                continue
            wraps[record_id] = "0x" + rewrap(own_wrap, obj.context, own_key, grantee_key).hex()
        except (WalletError, CryptoError) as exc:
            result.skipped[record_id] = getattr(exc, "message", str(exc))
    if wraps:
        with grantee_api(session, grantee) as target:
            ids = sorted(wraps)
            for start in range(0, len(ids), SHARES_PER_REQUEST):
                chunk = ids[start : start + SHARES_PER_REQUEST]
                target.post_key_shares(grantee_address, {rid: wraps[rid] for rid in chunk})
            result.via = target.base_url
        result.shared = sorted(wraps)
    return result
