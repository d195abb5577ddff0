"""The care flows' contracts: their deployment names, and the care access log they share.

Each flow contract extends `contracts/care/CareFlow.sol`: reads it authorises (instead of a consent) are logged
as `CareRecordsAccessed(patient, reader, ref, purpose, recordIds)`, and `mayRead(reader, ref, recordId)` tells an
author institution whether to release a record's key to a reader.
"""

from __future__ import annotations

from enum import Enum


class CareFlowName(str, Enum):
    """A flow as the API and the CLI name it -> the deployment name of its contract."""

    case = "ReferralCases"
    emergency = "BreakGlass"
    prescription = "Prescriptions"

    @property
    def contract(self) -> str:
        return self.value


# Flow contracts with no patient reads of their own (they still join the audit).
OTHER_FLOW_CONTRACTS: tuple[str, ...] = ("PublicHealthReports",)


def care_flow_contracts() -> tuple[str, ...]:
    """Every care flow contract's deployment name."""
    return tuple(flow.contract for flow in CareFlowName) + OTHER_FLOW_CONTRACTS
