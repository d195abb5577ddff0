"""Typed access to the ConsortiumRegistry: the member directory and k-of-n governance.

Input is validated here with the contract's own limits, so a bad application fails with a pydantic
ValidationError before any transaction is signed; contract refusals surface as `ContractRevert`.
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Any

from eth_utils import is_checksum_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, field_validator
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain import Ledger
from ledger.errors import ContractRevert
from ledger.roles import Role, parse_roles, role_names
from ledger.transactions import TransactionSender, revert_data

PAGE_SIZE = 100
# The contract's limits (ConsortiumRegistry.MAX_*); it counts UTF-8 bytes, so the wrapper does too.
MAX_NAME_BYTES = 64
MAX_ENDPOINT_BYTES = 256
MAX_PUBLIC_KEY_BYTES = 1300
ZERO_ADDRESS = "0x" + "00" * 20

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_EXECUTED = 2


def checksum_address(value: str) -> str:
    """The EIP-55 form of a 0x-hex address; ValueError for anything else, including a mixed-case typo."""
    if not isinstance(value, str) or not _HEX_ADDRESS.fullmatch(value):
        raise ValueError(f"not an Ethereum address (expected 0x and 40 hex digits): {value!r}")
    mixed_case = value[2:] != value[2:].lower() and value[2:] != value[2:].upper()
    if mixed_case and not is_checksum_address(value):
        raise ValueError(f"address {value} has an invalid EIP-55 checksum (a typo?)")
    return to_checksum_address(value)


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
    """What a governor proposes when admitting an institution, checked against the contract's rules."""

    model_config = ConfigDict(extra="forbid")

    address: str
    name: str
    country: str
    roles: list[str]
    hpke_public_key: bytes
    endpoint: str = ""

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        address = checksum_address(value)
        if address == ZERO_ADDRESS:
            raise ValueError("the zero address cannot be a member")
        return address

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        size = len(value.encode())
        if not 1 <= size <= MAX_NAME_BYTES:
            raise ValueError(f"name must be 1 to {MAX_NAME_BYTES} bytes of UTF-8 (got {size})")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not _COUNTRY.fullmatch(value):  # fullmatch: '$' would accept a trailing newline
            raise ValueError(f"country must be an ISO 3166-1 alpha-2 code in capitals, e.g. 'BJ' (got {value!r})")
        return value

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        return role_names(int(parse_roles(value)))  # canonical names in flag order; ValueError names an unknown role

    @field_validator("hpke_public_key", mode="before")
    @classmethod
    def _key(cls, value: Any) -> Any:
        # A str would otherwise be UTF-8 encoded silently; accept only explicit 0x-hex text.
        if isinstance(value, str):
            if not re.fullmatch(r"0x([0-9a-fA-F]{2})*", value):
                raise ValueError("hpke_public_key must be bytes or a 0x-prefixed hex string")
            return bytes.fromhex(value[2:])
        return value

    @field_validator("hpke_public_key")
    @classmethod
    def _key_length(cls, value: bytes) -> bytes:
        if not 1 <= len(value) <= MAX_PUBLIC_KEY_BYTES:
            raise ValueError(f"hpke_public_key must be 1 to {MAX_PUBLIC_KEY_BYTES} bytes (got {len(value)})")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        size = len(value.encode())
        if size > MAX_ENDPOINT_BYTES:
            raise ValueError(f"endpoint must be at most {MAX_ENDPOINT_BYTES} bytes of UTF-8 (got {size})")
        return value

    def as_tuple(self) -> tuple[str, str, bytes, int, bytes, str]:
        return (self.address, self.name, self.country.encode(), int(parse_roles(self.roles)), self.hpke_public_key, self.endpoint)


class Proposal(BaseModel):
    """A proposal header. `approvals`: while pending, the approvals that still count (their governors are
    still active governors, uninterrupted since voting); once executed, the approvals it executed with."""

    proposal_id: int
    kind: str
    subject: str
    proposer: str
    created_at: int
    expires_at: int
    approvals: int
    executed: bool


class ProposalPayload(BaseModel):
    """What a proposal would apply; fields a kind does not use are None."""

    proposal_id: int
    kind: str
    subject: str
    name: str | None = None  # ADMIT
    country: str | None = None  # ADMIT
    roles: list[str] | None = None  # ADMIT, CHANGE_ROLES
    hpke_public_key: str | None = None  # ADMIT, ROTATE_KEYS (0x-hex)
    endpoint: str | None = None  # ADMIT, ROTATE_KEYS
    reason: str | None = None  # SUSPEND


class ConsortiumRegistry:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.contract: Contract = ledger.contract("ConsortiumRegistry")

    # --- reads -------------------------------------------------------------------------------------
    def member(self, address: str) -> Member | None:
        account = checksum_address(address)
        raw = self._read(self.contract.functions.member(account))
        name, country, roles, key, endpoint, status, admitted_at, updated_at = raw
        if status == MemberStatus.NONE:
            return None
        return Member(
            address=account, name=name, country=country.decode(), roles=role_names(roles),
            hpke_public_key="0x" + key.hex(), endpoint=endpoint, status=MemberStatus(status).name,
            admitted_at=admitted_at, updated_at=updated_at,
        )

    def directory(self) -> list[Member]:
        total = self._read(self.contract.functions.memberCount())
        addresses: list[str] = []
        for offset in range(0, total, PAGE_SIZE):
            addresses += self._read(self.contract.functions.members(offset, PAGE_SIZE))
        return [member for member in (self.member(address) for address in addresses) if member is not None]

    def find(self, name_or_address: str) -> Member | None:
        """A member by address, or by exact (case-insensitive) name; None when there is no such member.

        Text shaped like an address ("0x" + 40 characters) is taken as one: ValueError if it is not valid
        hex or has a bad EIP-55 checksum, since that is a typo rather than a member's name.
        """
        if name_or_address.startswith("0x") and len(name_or_address) == 42:
            return self.member(name_or_address)
        wanted = name_or_address.casefold()
        return next((member for member in self.directory() if member.name.casefold() == wanted), None)

    def is_active(self, address: str) -> bool:
        return bool(self._read(self.contract.functions.isActiveMember(checksum_address(address))))

    def has_active_role(self, role: Role, address: str) -> bool:
        return bool(self._read(self.contract.functions.hasActiveRole(role.role_id, checksum_address(address))))

    def proposal(self, proposal_id: int) -> Proposal:
        """ContractRevert("UnknownProposal") for an id that was never created."""
        kind, subject, proposer, created_at, expires_at, approvals, status = self._read(self.contract.functions.proposal(proposal_id))
        return Proposal(
            proposal_id=proposal_id, kind=ProposalKind(kind).name, subject=subject, proposer=proposer, created_at=created_at,
            expires_at=expires_at, approvals=approvals, executed=status == _EXECUTED,
        )

    def proposal_payload(self, proposal_id: int) -> ProposalPayload:
        """What voting for `proposal_id` would apply; ContractRevert("UnknownProposal") for an unknown id."""
        kind = ProposalKind[self.proposal(proposal_id).kind]
        (account, name, country, roles, key, endpoint), reason = self._read(self.contract.functions.proposalPayload(proposal_id))
        fields: dict[str, Any] = {}
        if kind is ProposalKind.ADMIT:
            fields |= {"name": name, "country": country.decode()}
        if kind in (ProposalKind.ADMIT, ProposalKind.CHANGE_ROLES):
            fields["roles"] = role_names(roles)
        if kind in (ProposalKind.ADMIT, ProposalKind.ROTATE_KEYS):
            fields |= {"hpke_public_key": "0x" + key.hex(), "endpoint": endpoint}
        if kind is ProposalKind.SUSPEND:
            fields["reason"] = reason
        return ProposalPayload(proposal_id=proposal_id, kind=kind.name, subject=account, **fields)

    def has_approved(self, proposal_id: int, governor: str) -> bool:
        """True when `governor`'s approval of the proposal counts (see `Proposal.approvals`)."""
        return bool(self._read(self.contract.functions.hasApproved(proposal_id, checksum_address(governor))))

    def is_proposal_open(self, proposal_id: int) -> bool:
        """True while the proposal is pending and not expired (False for an unknown id)."""
        return bool(self._read(self.contract.functions.isProposalOpen(proposal_id)))

    def quorum(self) -> int:
        return int(self._read(self.contract.functions.quorum()))

    # --- governance (sent by a governor) -----------------------------------------------------------
    def propose_admission(self, governor: TransactionSender, application: MemberApplication) -> int:
        return self._proposal_id(governor.transact(self.contract.functions.proposeAdmission(application.as_tuple())))

    def propose_suspension(self, governor: TransactionSender, address: str, reason: str) -> int:
        return self._proposal_id(governor.transact(self.contract.functions.proposeSuspension(checksum_address(address), reason)))

    def propose_reinstatement(self, governor: TransactionSender, address: str) -> int:
        return self._proposal_id(governor.transact(self.contract.functions.proposeReinstatement(checksum_address(address))))

    def propose_role_change(self, governor: TransactionSender, address: str, roles: Role) -> int:
        return self._proposal_id(governor.transact(self.contract.functions.proposeRoleChange(checksum_address(address), int(roles))))

    def propose_key_rotation(self, governor: TransactionSender, address: str, hpke_public_key: bytes, endpoint: str) -> int:
        return self._proposal_id(governor.transact(self.contract.functions.proposeKeyRotation(checksum_address(address), hpke_public_key, endpoint)))

    def approve(self, governor: TransactionSender, proposal_id: int) -> bool:
        """Vote for a proposal; True when this vote executed it."""
        receipt = governor.transact(self.contract.functions.approve(proposal_id))
        return bool(self.contract.events.ProposalExecuted().process_receipt(receipt, errors=DISCARD))

    def _proposal_id(self, receipt: TxReceipt) -> int:
        (event,) = self.contract.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["proposalId"])

    def _read(self, function: ContractFunction) -> Any:
        """eth_call with the contract's custom errors decoded into ContractRevert."""
        try:
            return function.call()
        except (ContractCustomError, ContractLogicError) as exc:
            data = revert_data(exc)
            raise (self.ledger.decoder.decode(data) if data else ContractRevert("UnknownRevert", {"message": str(exc)})) from None
