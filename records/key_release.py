"""Key release for care reads: the author institution re-wraps a record's key to a reader a care flow authorises.

A care flow (a referral case, a break-glass, a presented prescription) says on chain who may read which record
(`mayRead(reader, ref, recordId)` on the flow contract). The record's key is wrapped only to its patient, its author
and the consented grantees of the time, so a new reader needs a re-wrap: the patient's wallet can make one, and so
can the author institution, which is what lets an emergency reader decrypt while the patient is unconscious.

    reader's API --- signed KeyRelease (EIP-712, nonce, deadline) ---> author's API  POST /v1/keys/release
                 <-- wraps for the reader's registered HPKE key -------

The author checks, per record: it authored it, and the flow contract says the reader may read it now. The request is
signed by the reader's member key, so the author knows who asks; the wraps open only with the reader's registered
HPKE key, so they are worthless to anyone else anyway. The author keeps the nonces it has seen until their deadline.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import httpx
from eth_utils import to_checksum_address

from crypto import CryptoError, Identity, RecordContext, rewrap, unwrap_key
from i18n import _
from ledger.care_flows import CareFlowName
from ledger.eip712 import Domain, TypedMessage
from records.clients import RecordClients
from records.errors import AccessDeniedError, NoKeyError, RecordError
from records.keystore import StoredWrap
from records.reading import locate
from records.recipients import member_public_key

MAX_RECORDS = 256  # as CareFlow.MAX_READS
REQUEST_LIFETIME = 300  # seconds of chain time a signed request stays valid
KEY_RELEASE_TYPES = {
    "KeyRelease": [
        {"name": "reader", "type": "address"},
        {"name": "ref", "type": "bytes32"},
        {"name": "recordIds", "type": "bytes32[]"},
        {"name": "nonce", "type": "bytes32"},
        {"name": "deadline", "type": "uint256"},
    ]
}


class KeyReleaseRefused(AccessDeniedError):
    """The author will not release (not its record, the flow does not authorise the reader, bad request)."""


class AuthorUnreachable(NoKeyError):
    """The author institution's API could not be reached: its records stay unreadable until it is back."""


@dataclass(frozen=True)
class KeyRelease:
    """A reader's signed request for the keys of `record_ids` under a flow's `ref`."""

    flow: CareFlowName
    reader: str
    ref: bytes
    record_ids: tuple[bytes, ...]
    nonce: bytes
    deadline: int
    signature: bytes = b""

    def typed(self, clients: RecordClients) -> TypedMessage:
        message = {"reader": to_checksum_address(self.reader), "ref": self.ref, "recordIds": list(self.record_ids), "nonce": self.nonce, "deadline": self.deadline}
        return TypedMessage(_domain(clients, self.flow), "KeyRelease", KEY_RELEASE_TYPES, message)

    def as_json(self) -> dict[str, object]:
        return {
            "flow": self.flow.name, "reader": self.reader, "ref": "0x" + self.ref.hex(), "record_ids": ["0x" + r.hex() for r in self.record_ids],
            "nonce": "0x" + self.nonce.hex(), "deadline": self.deadline, "signature": "0x" + self.signature.hex(),
        }


_DOMAINS: dict[str, Domain] = {}  # by contract address: a deployed contract's EIP-712 domain never changes


def _domain(clients: RecordClients, flow: CareFlowName) -> Domain:
    """The flow contract's domain, asked of the chain once per contract rather than once per request."""
    contract = clients.ledger.contract(flow.contract)
    if contract.address not in _DOMAINS:
        _DOMAINS[contract.address] = Domain.of(contract)
    return _DOMAINS[contract.address]


def chain_now(clients: RecordClients) -> int:
    return int(clients.ledger.w3.eth.get_block("latest")["timestamp"])


# ---------------------------------------------------------------------------------------------- reader side
def sign_request(identity: Identity, clients: RecordClients, flow: CareFlowName, ref: bytes, record_ids: list[bytes]) -> KeyRelease:
    request = KeyRelease(flow, identity.address, ref, tuple(record_ids), os.urandom(32), chain_now(clients) + REQUEST_LIFETIME)
    return KeyRelease(**{**request.__dict__, "signature": request.typed(clients).sign(identity.account)})


def request_keys(identity: Identity, clients: RecordClients, author: str, flow: CareFlowName, ref: bytes, record_ids: list[bytes], timeout: float = 30.0) -> list[StoredWrap]:
    """Ask the author's API (its registry endpoint) for the keys; returns the wraps, each checked to open with our key."""
    member = clients.registry.member(author)
    endpoint = (member.endpoint if member is not None else "").rstrip("/")
    if not endpoint:
        raise AuthorUnreachable(
            _("the author institution {author} lists no API endpoint in the registry: its records stay unreadable until it does").format(author=author)
        )
    request = sign_request(identity, clients, flow, ref, record_ids)
    try:
        reply = httpx.post(f"{endpoint}/v1/keys/release", json=request.as_json(), timeout=timeout)
    except httpx.HTTPError as exc:
        raise AuthorUnreachable(
            _("the author institution {author} is offline ({reason}); its records stay unreadable until it is back").format(
                author=member.name if member else author, reason=type(exc).__name__
            )
        ) from None
    if reply.status_code != 200:
        detail = reply.json().get("detail", reply.text) if reply.headers.get("content-type", "").endswith("json") else reply.text
        raise KeyReleaseRefused(_("the author institution refused to release the keys: {reason}").format(reason=detail))
    wraps: list[StoredWrap] = []
    for item in reply.json()["wraps"]:
        record_id, wrap = bytes.fromhex(item["record_id"][2:]), bytes.fromhex(item["wrap"][2:])
        state, _anchor = locate(clients, record_id)
        try:  # proves the wrap carries this record's key for this version, for us
            unwrap_key(wrap, RecordContext(record_id, state.patient, state.category, int(item["version"])), identity.hpke_key)
        except CryptoError as exc:
            raise KeyReleaseRefused(_("the released key of record 0x{record} does not open: {reason}").format(record=record_id.hex(), reason=exc)) from None
        wraps.append(StoredWrap(record_id, state.patient, int(item["version"]), wrap))
    return wraps


# ---------------------------------------------------------------------------------------------- author side
class SeenNonces:
    """Nonces of accepted requests, kept until their deadline (chain time), so a request cannot be replayed."""

    def __init__(self) -> None:
        self._seen: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def use(self, nonce: bytes, deadline: int, now: int) -> bool:
        with self._lock:
            self._seen = {n: d for n, d in self._seen.items() if d >= now}
            if nonce in self._seen:
                return False
            self._seen[nonce] = deadline
            return True


@dataclass(frozen=True)
class ReleasedKey:
    record_id: bytes
    version: int
    wrap: bytes


def release_keys(identity: Identity, clients: RecordClients, request: KeyRelease, nonces: SeenNonces) -> list[ReleasedKey]:
    """At the author: check the request and the chain, then re-wrap each record's key to the reader; all or nothing."""
    if not 1 <= len(request.record_ids) <= MAX_RECORDS:
        raise KeyReleaseRefused(_("ask for 1 to {limit} records at once").format(limit=MAX_RECORDS))
    now = chain_now(clients)
    if request.deadline < now:
        raise KeyReleaseRefused(_("the request expired at {deadline} (chain time now {now})").format(deadline=request.deadline, now=now))
    if request.deadline > now + 2 * REQUEST_LIFETIME:
        raise KeyReleaseRefused(
            _("the request's deadline is too far ahead (at most {seconds} s of chain time)").format(seconds=2 * REQUEST_LIFETIME)
        )
    try:
        signer = request.typed(clients).recover(request.signature)
    except LookupError:
        raise KeyReleaseRefused(_("the {flow} flow is not deployed on this network").format(flow=request.flow.name)) from None
    except (ValueError, TypeError) as exc:  # malformed signature bytes
        raise KeyReleaseRefused(_("the request's signature is malformed: {reason}").format(reason=exc)) from None
    if signer != to_checksum_address(request.reader):
        raise KeyReleaseRefused(_("the request is signed by {signer}, not by the reader {reader}").format(signer=signer, reader=request.reader))
    reader_key = member_public_key(clients.registry, request.reader)
    if reader_key is None:
        raise KeyReleaseRefused(_("{member} is not an active member with a usable HPKE key").format(member=request.reader))
    flow = clients.ledger.contract(request.flow.contract)
    released: list[ReleasedKey] = []
    for record_id in request.record_ids:
        rid = "0x" + record_id.hex()
        try:
            state, anchor = locate(clients, record_id)
        except RecordError as exc:
            raise KeyReleaseRefused(_("record {record}: {reason}").format(record=rid, reason=exc)) from None
        if state.author != identity.address:
            raise KeyReleaseRefused(
                _("record {record} was authored by {author}, not by this institution: ask its author or the patient").format(record=rid, author=state.author)
            )
        if not flow.functions.mayRead(request.reader, request.ref, record_id).call():
            raise KeyReleaseRefused(
                _("the {flow} 0x{ref} does not let {reader} read record {record}").format(
                    flow=request.flow.name, ref=request.ref.hex(), reader=request.reader, record=rid
                )
            )
        obj, _payload = clients.objects.fetch(anchor)
        own = obj.wrap_for(identity.address)
        if own is None:
            raise KeyReleaseRefused(_("record {record} holds no key wrap for its author").format(record=rid))
        released.append(ReleasedKey(record_id, obj.version, rewrap(own, obj.context, identity.hpke_key, reader_key)))
    if not nonces.use(request.nonce, request.deadline, now):
        raise KeyReleaseRefused(_("this request was already answered (replayed nonce)"))
    return released
