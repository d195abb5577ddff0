"""Typed access to ReferralCases (issue 12): open, approve or refuse (signed by the patient and relayed by the
requester), accept, decline, answer, share, close; the case views; the case's events."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from functools import cached_property
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from pydantic import BaseModel
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain import Ledger
from ledger.eip712 import Domain, TypedMessage
from ledger.events import DecodedEvent
from ledger.transactions import TransactionSender

CONTRACT = "ReferralCases"
MAX_ATTACHED = 32
MAX_CONSULTANTS = 8
MAX_CONSENT_SECONDS = 180 * 86400
APPROVE_CASE_TYPES = {"ApproveCase": [{"name": "caseId", "type": "bytes32"}, {"name": "until", "type": "uint40"}, {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"}]}
REFUSE_CASE_TYPES = {"RefuseCase": [{"name": "caseId", "type": "bytes32"}, {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"}]}
CASE_EVENTS = ("CaseOpened", "CaseApproved", "CaseRefused", "CaseAccepted", "CaseDeclined", "CaseAnswered", "CaseShared", "CaseClosed")



class CaseState(IntEnum):
    NONE = 0
    OPEN = 1  # waiting for the patient
    APPROVED = 2
    REFUSED = 3
    CLOSED = 4


class Priority(IntEnum):
    ROUTINE = 0  # 7 days to the deadline
    URGENT = 1  # 1 day
    STAT = 2  # 2 hours


class ConsultantStatus(IntEnum):
    NONE = 0
    INVITED = 1
    ACCEPTED = 2
    DECLINED = 3
    ANSWERED = 4


class DeclineReason(IntEnum):
    """Reason codes only: a reason in words would be personal data on chain (send a Communication record instead)."""

    BUSY = 1
    OUT_OF_SPECIALTY = 2
    INSUFFICIENT_DATA = 3
    OTHER = 4


class ItemKind(IntEnum):
    NONE = 0
    ATTACHED = 1  # the request or an attached record
    ANSWER = 2  # a consultant's answer
    NOTE = 3  # a requester record linked to the case (conversation, panel conclusion)


class CaseInfo(BaseModel):
    case_id: bytes
    patient: str
    requester: str
    state: CaseState
    priority: Priority
    opened_at: int
    deadline: int
    consent_until: int
    closed_at: int
    consultant_count: int
    attached_count: int

    def overdue(self, now: int) -> bool:
        return self.state in (CaseState.OPEN, CaseState.APPROVED) and now > self.deadline

    def live(self, now: int) -> bool:
        """Approved, not closed, its consent running: reads and answers are possible."""
        return self.state == CaseState.APPROVED and now <= self.consent_until


class ConsultantInfo(BaseModel):
    address: str
    status: ConsultantStatus
    index: int
    accepted_at: int
    answered_at: int
    answers: int


class CaseItem(BaseModel):
    kind: ItemKind
    author_index: int
    shared_with: int  # bit i-1 = consultant index i


class CaseTx(BaseModel):
    """One case transaction as mined."""

    case_id: bytes
    transaction_hash: str
    block_number: int
    gas_used: int


def case_id_of(requester: str, request_id: bytes, attached_ids: Sequence[bytes], consultants: Sequence[str], priority: Priority) -> bytes:
    """The id `open` gives the case: it commits to the requester, the request, the records, the consultants and the
    priority, so a wallet that recomputes it knows exactly what it approves."""
    return keccak(
        encode(
            ["address", "bytes32", "bytes32[]", "address[]", "uint8"],
            [to_checksum_address(requester), request_id, list(attached_ids), [to_checksum_address(c) for c in consultants], int(priority)],
        )
    )


def consultants_of(packed: bytes) -> list[str]:
    """CaseOpened's `consultants`: abi.encodePacked(address[]), one 32-byte word per consultant."""
    data = bytes(packed)
    return [to_checksum_address(data[i + 12 : i + 32]) for i in range(0, len(data), 32)]


class ReferralCases:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.contract: Contract = ledger.contract(CONTRACT)

    @cached_property
    def domain(self) -> Domain:
        return Domain.of(self.contract)

    @property
    def address(self) -> str:
        return str(self.contract.address)

    # --- reads -------------------------------------------------------------------------------------
    def get(self, case_id: bytes) -> CaseInfo | None:
        raw = self.contract.functions.getCase(case_id).call()
        patient, requester, state, priority, opened_at, deadline, consent_until, closed_at, consultants, attached = raw
        if int(patient, 16) == 0:
            return None
        return CaseInfo(
            case_id=case_id, patient=patient, requester=requester, state=CaseState(state), priority=Priority(priority), opened_at=opened_at,
            deadline=deadline, consent_until=consent_until, closed_at=closed_at, consultant_count=consultants, attached_count=attached,
        )

    def consultant(self, case_id: bytes, consultant: str) -> ConsultantInfo:
        status, index, accepted_at, answered_at, answers = self.contract.functions.consultantOf(case_id, to_checksum_address(consultant)).call()
        return ConsultantInfo(address=to_checksum_address(consultant), status=ConsultantStatus(status), index=index, accepted_at=accepted_at, answered_at=answered_at, answers=answers)

    def item(self, case_id: bytes, record_id: bytes) -> CaseItem:
        kind, author, shared = self.contract.functions.itemOf(case_id, record_id).call()
        return CaseItem(kind=ItemKind(kind), author_index=author, shared_with=shared)

    def may_read(self, reader: str, case_id: bytes, record_id: bytes) -> bool:
        return bool(self.contract.functions.mayRead(to_checksum_address(reader), case_id, record_id).call())

    def nonce(self, signer: str) -> int:
        return int(self.contract.functions.nonces(to_checksum_address(signer)).call())

    # --- requester -----------------------------------------------------------------------------------
    def open(self, sender: TransactionSender, request_id: bytes, priority: Priority, attached_ids: Sequence[bytes], consultants: Sequence[str]) -> CaseTx:
        checksummed = [to_checksum_address(c) for c in consultants]
        call = self.contract.functions.open(request_id, int(priority), list(attached_ids), checksummed)
        receipt = self._transact(sender, call)
        opened = self.contract.events.CaseOpened().process_receipt(receipt, errors=DISCARD)
        return self._tx(bytes(opened[0]["args"]["caseId"]), receipt)

    def share(self, sender: TransactionSender, case_id: bytes, record_id: bytes, consultants: Sequence[str]) -> CaseTx:
        call = self.contract.functions.share(case_id, record_id, [to_checksum_address(c) for c in consultants])
        return self._tx(case_id, self._transact(sender, call))

    def close(self, sender: TransactionSender, case_id: bytes) -> CaseTx:
        return self._tx(case_id, self._transact(sender, self.contract.functions.close(case_id)))

    # --- patient: messages signed in the wallet, relayed by the requester; or sent directly ---------------
    def approve_message(self, case_id: bytes, until: int, deadline: int, signer: str, nonce: int | None = None) -> TypedMessage:
        message = {"caseId": case_id, "until": until, "nonce": self.nonce(signer) if nonce is None else nonce, "deadline": deadline}
        return TypedMessage(self.domain, "ApproveCase", APPROVE_CASE_TYPES, message)

    def refuse_message(self, case_id: bytes, deadline: int, signer: str, nonce: int | None = None) -> TypedMessage:
        message = {"caseId": case_id, "nonce": self.nonce(signer) if nonce is None else nonce, "deadline": deadline}
        return TypedMessage(self.domain, "RefuseCase", REFUSE_CASE_TYPES, message)

    def relay(self, relayer: TransactionSender, signed: TypedMessage, signature: bytes) -> CaseTx:
        m = signed.message
        functions = self.contract.functions
        if signed.primary_type == "ApproveCase":
            call = functions.approveBySig(m["caseId"], m["until"], m["nonce"], m["deadline"], signature)
        elif signed.primary_type == "RefuseCase":
            call = functions.refuseBySig(m["caseId"], m["nonce"], m["deadline"], signature)
        else:
            raise ValueError(f"not a ReferralCases message: {signed.primary_type}")
        return self._tx(bytes(m["caseId"]), self._transact(relayer, call))

    def approve(self, patient: TransactionSender, case_id: bytes, until: int) -> CaseTx:
        return self._tx(case_id, self._transact(patient, self.contract.functions.approve(case_id, until)))

    def refuse(self, patient: TransactionSender, case_id: bytes) -> CaseTx:
        return self._tx(case_id, self._transact(patient, self.contract.functions.refuse(case_id)))

    # --- consultants ---------------------------------------------------------------------------------
    def accept(self, sender: TransactionSender, case_id: bytes) -> CaseTx:
        return self._tx(case_id, self._transact(sender, self.contract.functions.accept(case_id)))

    def decline(self, sender: TransactionSender, case_id: bytes, reason: DeclineReason) -> CaseTx:
        return self._tx(case_id, self._transact(sender, self.contract.functions.decline(case_id, int(reason))))

    def answer(self, sender: TransactionSender, case_id: bytes, record_id: bytes) -> CaseTx:
        return self._tx(case_id, self._transact(sender, self.contract.functions.answer(case_id, record_id)))

    # --- the care access log -----------------------------------------------------------------------------
    def records_accessed(self, reader: TransactionSender, case_id: bytes, record_ids: Sequence[bytes]) -> CaseTx:
        return self._tx(case_id, self._transact(reader, self.contract.functions.recordsAccessed(case_id, list(record_ids))))

    # --- events --------------------------------------------------------------------------------------
    def events(self, event: str, **indexed: Any) -> list[DecodedEvent]:
        return self.ledger.events(CONTRACT, event, **indexed)

    def history(self, case_id: bytes) -> list[DecodedEvent]:
        """Every event of one case, in chain order (the case's detail lives here, not in storage)."""
        found = [e for name in CASE_EVENTS for e in self.events(name, caseId=case_id)]
        return sorted(found, key=lambda e: e.position)

    @staticmethod
    def consultants_in(history: Sequence[DecodedEvent]) -> list[str]:
        """The case's consultants in their index order (index i is bit i-1 of a CaseShared mask), from CaseOpened."""
        opened = next(e for e in history if e.name == "CaseOpened")
        return consultants_of(opened.args["consultants"])

    def invitations(self, consultant: str) -> list[bytes]:
        """Ids of the cases `consultant` was invited to."""
        wanted = to_checksum_address(consultant)
        return [bytes(e.args["caseId"]) for e in self.opened() if wanted in consultants_of(e.args["consultants"])]

    def opened(self, **indexed: Any) -> list[DecodedEvent]:
        """CaseOpened events, filtered by `caseId`, `patient` or `requester`."""
        return self.events("CaseOpened", **indexed)

    # --- private ---------------------------------------------------------------------------------------
    def _transact(self, sender: TransactionSender, call: Any) -> TxReceipt:
        return self.ledger.transact(sender, call)

    def _tx(self, case_id: bytes, receipt: TxReceipt) -> CaseTx:
        return CaseTx(case_id=case_id, transaction_hash=receipt["transactionHash"].to_0x_hex(), block_number=receipt["blockNumber"], gas_used=receipt["gasUsed"])
