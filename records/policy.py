"""Who may read what: the local consent index (no chain round trip) or, as a fallback, the ledger itself.

Either way the ledger stays the final gate: a read is returned only after its access-log transaction, which the
contract refuses without a covering consent.
"""

from __future__ import annotations

from typing import Protocol

from ledger.consent import ConsentLedger
from ledger.consent_index import ConsentIndex


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



class IndexAccessPolicy:
    """Decides from the event-driven local consent index, without a chain call on the common path.

    A "yes" is served from the index (its follower lags the head by at most one poll; the on-chain access log is
    the final gate). A "no" is re-checked after syncing to the node's head, so a grant made a moment ago counts.
    """

    def __init__(self, index: ConsentIndex) -> None:
        self.index = index

    def is_permitted(self, patient: str, grantee: str, category_mask: int, purpose: int) -> bool:
        if self.index.decide(patient, grantee, category_mask, purpose).permitted:
            return True
        return self.index.decide(patient, grantee, category_mask, purpose, max_staleness_blocks=0).permitted

    def as_of_last_poll(self) -> AccessPolicy:
        """Answers from the index as its follower last synced it (at most one poll behind), without syncing or
        asking the node for its head: for a put's checks, which the contract repeats when it anchors (a put's own
        "no" is re-asked with `is_permitted`), and for choosing key-wrap recipients among every member (a member
        granted consent within the last poll gets its key by a share)."""
        return _IndexAsOfPoll(self.index)


class _IndexAsOfPoll:
    """`ConsentIndex.decide`'s rule on the index's synced state, without the sync `decide` does when the follower has
    seen a newer head (under write load that is every call, and the syncs queue on the index's lock)."""

    def __init__(self, index: ConsentIndex) -> None:
        self.index = index

    def is_permitted(self, patient: str, grantee: str, category_mask: int, purpose: int) -> bool:
        consent = self.index.consent(patient, grantee)
        if consent is None or not consent.active:
            return False
        now = self.index.synced_timestamp
        if not consent.valid_from <= now < consent.valid_until:
            return False
        if category_mask == 0 or consent.categories & category_mask != category_mask or purpose == 0 or consent.purposes & purpose != purpose:
            return False
        return self.index.is_active_member(grantee)
