"""The rules an audit checks, and one broken rule found in the ledger."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Stable rule ids (they appear in reports, so renaming one is a format change) -> what the rule says.
RULES: dict[str, str] = {
    "access-consent": "Every logged access was covered, at its block, by the reader's consent from the patient (care-flow reads are judged by their flow's rules).",
    "consent-in-force": "No consent was used after it was revoked, replaced or expired, nor before it started.",
    "record-authorship": "Every record was anchored by an active provider holding the patient's consent, or under the patient's upload authorisation.",
    "member-active": "Nothing was done by a suspended or unknown member, nor by a member without the role the action needs.",
    "claims": "Claims were paid once, within the card's limit, with evidence by the claimant and the patient's confirmation (or a recorded override).",
    "escrow": "Escrow is conserved: funded - withdrawn - paid - disbursed = escrow >= 0, and tokens move only with a payment event.",
    "governance": "Every change to the directory after genesis executed a proposal whose valid votes reached quorum.",
    "event-consistency": "Values the contracts report in events (versions, ids, running totals) agree with the replay.",
    "state-matches-views": "The state rebuilt from events equals what the contracts' view functions return at the end block.",
    "payload-integrity": "Every anchored payload in IPFS has the anchored sha256 and CID; erased payloads are gone.",
    "batch-proofs": "Every batch manifest reproduces the anchored Merkle root and every record's proof verifies.",
}
DEEP_RULES = ("payload-integrity", "batch-proofs")


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule, located in the chain (block 0 / empty tx for end-state findings)."""

    rule: str
    block: int
    tx: str
    log_index: int
    explanation: str
    subject: str = ""  # the record / consent / claim / member concerned

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Violation":
        return cls(**data)

    def sort_key(self) -> tuple[int, int, str, str, str]:
        return (self.block, self.log_index, self.rule, self.subject, self.explanation)
