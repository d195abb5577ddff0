"""Typed access to the ConsortiumRegistry: the member directory and k-of-n governance."""

from __future__ import annotations

from enum import IntEnum

from eth_utils import to_checksum_address
from pydantic import BaseModel
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain import Ledger
from ledger.roles import Role, parse_roles, role_names
from ledger.transactions import TransactionSender

PAGE_SIZE = 100


class MemberStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2


class ProposalKind(IntEnum):
    ADMIT = 0
    SUSPEND = 1
    REINSTATE = 2
    CHANGE_ROLES = 3
    ROTATE_KEYS = 4


class Member(BaseModel):
    address: str
    name: str
    country: str
    roles: list[str]
    hpke_public_key: str
    endpoint: str
    status: str
    admitted_at: int
    updated_at: int

    @property
    def active(self) -> bool:
        return self.status == MemberStatus.ACTIVE.name


class MemberApplication(BaseModel):
    """What a governor proposes when admitting an institution."""

    address: str
    name: str
    country: str
    roles: list[str]
    hpke_public_key: bytes
    endpoint: str = ""

    def as_tuple(self) -> tuple[str, str, bytes, int, bytes, str]:
        return (to_checksum_address(self.address), self.name, self.country.encode(), int(parse_roles(self.roles)), self.hpke_public_key, self.endpoint)


class Proposal(BaseModel):
    proposal_id: int
    kind: str
    subject: str
    proposer: str
    created_at: int
    expires_at: int
    approvals: int
    executed: bool


class ConsortiumRegistry:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.contract: Contract = ledger.contract("ConsortiumRegistry")

    # --- reads -------------------------------------------------------------------------------------
    def member(self, address: str) -> Member | None:
        raw = self.contract.functions.member(to_checksum_address(address)).call()
        name, country, roles, key, endpoint, status, admitted_at, updated_at = raw
        if status == MemberStatus.NONE:
            return None
        return Member(
            address=to_checksum_address(address), name=name, country=country.decode(), roles=role_names(roles),
            hpke_public_key="0x" + key.hex(), endpoint=endpoint, status=MemberStatus(status).name,
            admitted_at=admitted_at, updated_at=updated_at,
        )

    def directory(self) -> list[Member]:
        total = self.contract.functions.memberCount().call()
        addresses: list[str] = []
        for offset in range(0, total, PAGE_SIZE):
            addresses += self.contract.functions.members(offset, PAGE_SIZE).call()
        return [member for member in (self.member(address) for address in addresses) if member is not None]

    def find(self, name_or_address: str) -> Member | None:
        """A member by address, or by exact (case-insensitive) name."""
        if name_or_address.startswith("0x") and len(name_or_address) == 42:
            return self.member(name_or_address)
        wanted = name_or_address.casefold()
        return next((member for member in self.directory() if member.name.casefold() == wanted), None)

    def is_active(self, address: str) -> bool:
        return bool(self.contract.functions.isActiveMember(to_checksum_address(address)).call())

    def has_active_role(self, role: Role, address: str) -> bool:
        return bool(self.contract.functions.hasActiveRole(role.role_id, to_checksum_address(address)).call())

    def proposal(self, proposal_id: int) -> Proposal:
        kind, subject, proposer, created_at, expires_at, approvals, status = self.contract.functions.proposal(proposal_id).call()
        return Proposal(proposal_id=proposal_id, kind=ProposalKind(kind).name, subject=subject, proposer=proposer, created_at=created_at, expires_at=expires_at, approvals=approvals, executed=status == 2)

    def quorum(self) -> int:
        return int(self.contract.functions.quorum().call())

    # --- governance (sent by a governor) -----------------------------------------------------------
    def propose_admission(self, governor: TransactionSender, application: MemberApplication) -> int:
        return self._proposal_id(governor.transact(self.contract.functions.proposeAdmission(application.as_tuple())))

    def propose_suspension(self, governor: TransactionSender, address: str, reason: str) -> int:
        return self._proposal_id(governor.transact(self.contract.functions.proposeSuspension(to_checksum_address(address), reason)))

    def propose_reinstatement(self, governor: TransactionSender, address: str) -> int:
        return self._proposal_id(governor.transact(self.contract.functions.proposeReinstatement(to_checksum_address(address))))

    def propose_role_change(self, governor: TransactionSender, address: str, roles: Role) -> int:
        return self._proposal_id(governor.transact(self.contract.functions.proposeRoleChange(to_checksum_address(address), int(roles))))

    def propose_key_rotation(self, governor: TransactionSender, address: str, hpke_public_key: bytes, endpoint: str) -> int:
        return self._proposal_id(governor.transact(self.contract.functions.proposeKeyRotation(to_checksum_address(address), hpke_public_key, endpoint)))

    def approve(self, governor: TransactionSender, proposal_id: int) -> bool:
        """Vote for a proposal; True when this vote executed it."""
        receipt = governor.transact(self.contract.functions.approve(proposal_id))
        return bool(self.contract.events.ProposalExecuted().process_receipt(receipt, errors=DISCARD))

    def _proposal_id(self, receipt: TxReceipt) -> int:
        (event,) = self.contract.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["proposalId"])
