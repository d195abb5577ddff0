"""The care flows' contracts: their deployment names, and the care access log they share.

Each flow contract extends `contracts/care/CareFlow.sol`: reads it authorises (instead of a consent) are logged
as `CareRecordsAccessed(patient, reader, ref, purpose, recordIds)`, and `mayRead(reader, ref, recordId)` tells an
author institution whether to release a record's key to a reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from eth_utils import to_checksum_address

from ledger.chain import Ledger


class CareFlowName(str, Enum):
    """A flow with patient reads, as the API and the CLI name it; `.contract` is its contract's deployment name."""

    case = "case"
    emergency = "emergency"
    prescription = "prescription"

    @property
    def contract(self) -> str:
        return _CONTRACTS[self.value]


_CONTRACTS = {"case": "ReferralCases", "emergency": "BreakGlass", "prescription": "Prescriptions"}


# Flow contracts with no care reads of their own (they still join the audit); DelegateAccessLog logs delegates' reads.
OTHER_FLOW_CONTRACTS: tuple[str, ...] = ("PublicHealthReports", "DelegateAccessLog")


def care_flow_contracts() -> tuple[str, ...]:
    """Every care flow contract's deployment name."""
    return tuple(flow.contract for flow in CareFlowName) + OTHER_FLOW_CONTRACTS


@dataclass(frozen=True)
class CareAccess:
    """One `CareRecordsAccessed` event: `reader` read `record_ids` of `patient` under the flow's `ref`."""

    flow: CareFlowName
    patient: str
    reader: str
    ref: bytes
    purpose: int
    record_ids: list[bytes]
    block_number: int
    transaction_hash: str


def care_accesses_of(ledger: Ledger, patient: str) -> list[CareAccess]:
    """Every care read of the patient's records, from each deployed flow contract, in chain order."""
    found: list[CareAccess] = []
    for flow in CareFlowName:
        if flow.contract not in ledger.deployments.contracts:
            continue
        for e in ledger.events(flow.contract, "CareRecordsAccessed", patient=to_checksum_address(patient)):
            found.append(CareAccess(
                flow=flow, patient=e.args["patient"], reader=e.args["reader"], ref=bytes(e.args["ref"]), purpose=e.args["purpose"],
                record_ids=[bytes(r) for r in e.args["recordIds"]], block_number=e.block_number, transaction_hash="0x" + e.transaction_hash.hex(),
            ))
    return sorted(found, key=lambda a: a.block_number)
