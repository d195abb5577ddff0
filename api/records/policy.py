"""Who may read what: a small protocol so the local consent index can replace the chain call later."""

from __future__ import annotations

from typing import Protocol

from ledger.consent import ConsentLedger


class AccessPolicy(Protocol):
    def is_permitted(self, patient: str, grantee: str, category_mask: int, purpose: int) -> bool:
        """True when `grantee` holds a live consent of `patient` covering `category_mask` for `purpose`."""
        ...


class ChainAccessPolicy:
    """Asks the ConsentLedger (eth_call at the chain head): a revocation counts from the next block."""

    def __init__(self, consents: ConsentLedger) -> None:
        self.consents = consents

    def is_permitted(self, patient: str, grantee: str, category_mask: int, purpose: int) -> bool:
        return self.consents.is_permitted(patient, grantee, category_mask, purpose)

