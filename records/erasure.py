"""Crypto-shredding: the patient signs a RequestErasure (EIP-712) in the wallet, a member relays it.

After the marker is on chain every node that holds the object must unpin it and drop its key wraps
(``RecordService.purge``): the relaying institution does so at once; other nodes, or IPFS Cluster peers
replicating the pin set, must run ``purge`` when they see ``RecordErased`` (reads already refuse it).
The patient's own wrap disappears with the object; without the ciphertext the data key is useless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from records.clients import RecordClients
from crypto import Identity
from ledger.eip712 import TypedMessage

if TYPE_CHECKING:
    from records.service import RecordService


@dataclass(frozen=True)
class ErasureRequest:
    message: TypedMessage
    signature: bytes

    @property
    def record_id(self) -> bytes:
        return bytes(self.message.message["recordId"])


def sign_erasure(patient: Identity, record_id: bytes, clients: RecordClients, ttl_seconds: int = 600) -> ErasureRequest:
    """In the wallet: sign the erasure of one of the patient's records (valid for ``ttl_seconds``)."""
    deadline = int(time.time()) + ttl_seconds
    message = clients.records.erasure_message(patient.address, bytes(record_id), deadline)
    return ErasureRequest(message, message.sign(patient.account))


def erase(patient: Identity, record_id: bytes, relayer: RecordService) -> None:
    """Sign (as the patient) and relay (as the member) in one go, then shred the relayer's copy."""
    relayer.relay_erasure(sign_erasure(patient, record_id, relayer.clients))
