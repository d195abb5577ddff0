"""Referral cases (issue 12) as one institution runs them, as requester or as consultant; no HTTP in here.

The clinical content is always an ordinary record put through the record service (encrypted, in IPFS, anchored on
its own): the ServiceRequest when opening, a DiagnosticReport or Communication when answering, a Communication or a
panel conclusion when the requester writes into the case. The chain (ReferralCases) holds ids, parties, state and
times, and decides who reads what; reads go through the record service's care read path, which logs them.
Every check a contract would refuse is made here first, so bad input gets a clear message and nothing is anchored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eth_utils import is_address, to_checksum_address

from care.cases_views import CaseView, approval_summary, case_view, refusal_summary
from i18n import _
from i18n.formatting import datetime_text
from i18n.vocabulary import (
    case_state_display,
    category_display,
    consultant_status_display,
)
from ledger.care_flows import CareFlowName
from ledger.cases import (
    MAX_ATTACHED,
    MAX_CONSENT_SECONDS,
    MAX_CONSULTANTS,
    CaseInfo,
    CaseState,
    CaseTx,
    ConsultantStatus,
    DeclineReason,
    Priority,
    ReferralCases,
)
from ledger.eip712 import TypedMessage
from ledger.records import RecordRegistry
from ledger.registry import ConsortiumRegistry, Member
from ledger.transactions import TransactionSender
from ledger.vocabulary import Category
from records.categories import category_of
from records.models import PutResult, RecordRead
from records.service import RecordService


class CaseError(Exception):
    """A refused case operation; `kind` says how an API answers it."""

    kind = "invalid"  # invalid (422) | forbidden (403) | not_found (404) | conflict (409)

    def __init__(self, message: str) -> None:
        super().__init__(message)


class CaseInvalid(CaseError):
    kind = "invalid"


class CaseForbidden(CaseError):
    kind = "forbidden"


class CaseNotFound(CaseError):
    kind = "not_found"


class CaseConflict(CaseError):
    kind = "conflict"


ANSWER_TYPES = ("DiagnosticReport", "Communication")
NOTE_TYPES = ("Communication", "DiagnosticReport", "ServiceRequest")


class CaseService:
    def __init__(
        self, cases: ReferralCases, records: RecordService, registry: ConsortiumRegistry, sender: TransactionSender,
        now: Callable[[], int], member: Callable[[str], Member | None] | None = None,
    ) -> None:
        self.cases = cases
        self.records = records
        self.registry = registry
        self.sender = sender
        self.now = now
        self.member = member or registry.member

    @property
    def address(self) -> str:
        return self.sender.address

    @property
    def registry_records(self) -> RecordRegistry:
        return self.records.clients.records

    # --- reads -----------------------------------------------------------------------------------------
    def info(self, case_id: bytes) -> CaseInfo:
        info = self.cases.get(case_id)
        if info is None:
            raise CaseNotFound(_("No referral case {case} on the ledger").format(case="0x" + case_id.hex()))
        return info

    def view(self, case_id: bytes, viewer: str | None = None) -> CaseView:
        """The case as its parties see it; `viewer` (default: this institution) must be the requester, a consultant
        or the patient."""
        info = self.info(case_id)
        view = case_view(self.cases, info, self.member, self.now())
        viewer = to_checksum_address(viewer or self.address)
        if viewer not in (info.requester, info.patient, *(c.address for c in view.consultants)):
            raise CaseForbidden(_("Only the requester, the consultants and the patient of case {case} see it").format(case=view.case_id))
        return view

    def mine(self, viewer: str | None = None, role: str = "all") -> list[CaseView]:
        """Cases this institution opened (`out`) or is consulted on (`in`), or a patient's own (viewer = patient)."""
        viewer = to_checksum_address(viewer or self.address)
        found = [bytes(e.args["caseId"]) for e in self.cases.opened(patient=viewer)]
        if role in ("all", "out"):
            found += [bytes(e.args["caseId"]) for e in self.cases.opened(requester=viewer)]
        if role in ("all", "in"):
            found += self.cases.invitations(viewer)
        return sorted((self.view(case_id, viewer) for case_id in dict.fromkeys(found)), key=lambda v: v.opened_at)

    def read(self, case_id: bytes, record_id: bytes) -> RecordRead:
        """A record of the case, decrypted after its read is logged (CareRecordsAccessed); the chain decides."""
        return self.records.get_under(CareFlowName.case, case_id, record_id)

    # --- requester -------------------------------------------------------------------------------------
    def open(self, patient: str, request: dict[str, Any], priority: Priority, attached_ids: Sequence[bytes], consultants: Sequence[str]) -> tuple[CaseView, CaseTx]:
        """Checks everything, anchors the ServiceRequest, opens the case."""
        patient = _address(patient, _("patient"))
        if request.get("resourceType") != "ServiceRequest":
            raise CaseInvalid(_("A case is opened with a FHIR ServiceRequest, not {kind}").format(kind=request.get("resourceType")))
        attached = [bytes(r) for r in attached_ids]
        if len(attached) > MAX_ATTACHED:
            raise CaseInvalid(_("At most {max} records can be attached to a case, not {count}").format(max=MAX_ATTACHED, count=len(attached)))
        if len(set(attached)) != len(attached):
            raise CaseInvalid(_("A record is attached twice"))
        for record_id in attached:
            self._check_attachable(patient, record_id)
        chosen = [_address(c, _("consultant")) for c in consultants]
        if not 0 < len(chosen) <= MAX_CONSULTANTS:
            raise CaseInvalid(_("A case names one to {max} consultants, not {count}").format(max=MAX_CONSULTANTS, count=len(chosen)))
        if len(set(chosen)) != len(chosen):
            raise CaseInvalid(_("A consultant is named twice"))
        for consultant in chosen:
            if consultant in (self.address, patient):
                raise CaseInvalid(_("{consultant} cannot consult on its own case").format(consultant=consultant))
            member = self.member(consultant)
            if member is None or not member.active:
                raise CaseInvalid(_("{consultant} is not an active member of the consortium (unknown or suspended)").format(consultant=consultant))
        put = self._put_own(request, patient)
        try:
            opened = self.cases.open(self.sender, put.record_id, priority, attached, chosen)
        except Exception as exc:  # the request record stays anchored, readable by no one new: say so
            raise CaseConflict(_("The ledger refused the case ({error}); the request {record} is anchored but no case was opened").format(error=exc, record="0x" + put.record_id.hex())) from exc
        return self.view(opened.case_id), opened

    def write(self, case_id: bytes, resource: dict[str, Any], share_with: Sequence[str] = ()) -> tuple[str, CaseTx]:
        """The requester writes into the case (a Communication, a panel conclusion) and shares it with consultants."""
        info = self._live(case_id)
        self._require_requester(info)
        if resource.get("resourceType") not in NOTE_TYPES:
            raise CaseInvalid(_("Write a {kinds} into a case, not {kind}").format(kinds=", ".join(NOTE_TYPES), kind=resource.get("resourceType")))
        targets = self._consultants_of(case_id, share_with)
        put = self._put_own(resource, info.patient)
        return "0x" + put.record_id.hex(), self.cases.share(self.sender, case_id, put.record_id, targets)

    def share(self, case_id: bytes, record_id: bytes, consultants: Sequence[str]) -> CaseTx:
        """Shares an answer (or a note) with other consultants of the case."""
        info = self._live(case_id)
        self._require_requester(info)
        item = self.cases.item(case_id, record_id)
        if item.kind.name not in ("ANSWER", "NOTE"):
            raise CaseInvalid(_("Record {record} is not an answer or a note of case {case}").format(record="0x" + record_id.hex(), case="0x" + case_id.hex()))
        return self.cases.share(self.sender, case_id, record_id, self._consultants_of(case_id, consultants))

    def close(self, case_id: bytes) -> CaseTx:
        info = self.info(case_id)
        self._require_requester(info)
        if info.state not in (CaseState.OPEN, CaseState.APPROVED):
            raise CaseConflict(_("Case {case} is already {state}").format(case="0x" + case_id.hex(), state=case_state_display(info.state.name)))
        return self.cases.close(self.sender, case_id)

    def relay(self, signed: TypedMessage, signature: bytes) -> CaseTx:
        """Relays the patient's signed ApproveCase / RefuseCase (only the requester may)."""
        case_id = bytes(signed.message["caseId"])
        info = self.info(case_id)
        self._require_requester(info)
        if signed.primary_type == "ApproveCase":
            self._check_until(int(signed.message["until"]))
        if int(signed.message["deadline"]) < self.now():
            raise CaseInvalid(_("The signature expired at {deadline}").format(deadline=datetime_text(int(signed.message["deadline"]))))
        return self.cases.relay(self.sender, signed, signature)

    # --- patient's plain words -------------------------------------------------------------------------
    def approval(self, case_id: bytes, until: int, signer: str, deadline: int) -> tuple[TypedMessage, str]:
        """The ApproveCase message and its plain-words summary (which records, to whom, until when)."""
        info = self.info(case_id)
        if info.state != CaseState.OPEN:
            raise CaseConflict(_("Case {case} is {state}, not waiting for approval").format(case="0x" + case_id.hex(), state=case_state_display(info.state.name)))
        self._check_until(until)
        view = case_view(self.cases, info, self.member, self.now())
        return self.cases.approve_message(case_id, until, deadline, signer), approval_summary(view, until, self.categories_of(view))

    def refusal(self, case_id: bytes, signer: str, deadline: int) -> tuple[TypedMessage, str]:
        info = self.info(case_id)
        if info.state not in (CaseState.OPEN, CaseState.APPROVED):
            raise CaseConflict(_("Case {case} is {state}").format(case="0x" + case_id.hex(), state=case_state_display(info.state.name)))
        view = case_view(self.cases, info, self.member, self.now())
        return self.cases.refuse_message(case_id, deadline, signer), refusal_summary(view)

    def categories_of(self, view: CaseView) -> dict[str, str]:
        out: dict[str, str] = {}
        for rid in [view.request_id, *view.attached_ids]:
            state = self.registry_records.state(bytes.fromhex(rid[2:]))
            out[rid] = Category(state.category).name if state else "?"
        return out

    # --- consultant ------------------------------------------------------------------------------------
    def accept(self, case_id: bytes) -> CaseTx:
        self._invited(case_id)
        return self.cases.accept(self.sender, case_id)

    def decline(self, case_id: bytes, reason: DeclineReason) -> CaseTx:
        self._invited(case_id)
        return self.cases.decline(self.sender, case_id, reason)

    def answer(self, case_id: bytes, resource: dict[str, Any]) -> tuple[str, CaseTx]:
        """Anchors the answer (under this institution's consent for its category) and links it to the case."""
        info = self._live(case_id)
        status = self.cases.consultant(case_id, self.address).status
        if status not in (ConsultantStatus.ACCEPTED, ConsultantStatus.ANSWERED):
            if status == ConsultantStatus.NONE:
                raise CaseForbidden(_("{member} is not a consultant of case {case}").format(member=self.address, case="0x" + case_id.hex()))
            raise CaseConflict(_("Only a consultant that accepted the case answers it; this one is {status}").format(status=consultant_status_display(status.name)))
        if resource.get("resourceType") not in ANSWER_TYPES:
            raise CaseInvalid(_("An answer is a DiagnosticReport or a Communication, not {kind}").format(kind=resource.get("resourceType")))
        # Wrapped to the patient and the requester only: other panel consultants see it only if the requester shares it.
        put = self._put_own(resource, info.patient, recipients=[info.requester])
        return "0x" + put.record_id.hex(), self.cases.answer(self.sender, case_id, put.record_id)

    # --- private ---------------------------------------------------------------------------------------
    def _put_own(self, resource: dict[str, Any], patient: str, recipients: Sequence[str] = ()) -> PutResult:
        """Stores a case record, anchored on its own and wrapped to the patient, this author and `recipients` only:
        the case, not standing consents, decides who reads it (others get keys by release when the case allows)."""
        category = category_of(resource)
        if not self.records.clients.consents.is_permitted(patient, self.address, category.bit, 1):
            raise CaseConflict(
                _("{member} holds no consent of the patient covering {category} for treatment, so it cannot anchor this record; "
                  "the patient grants one in the wallet (`healthsilk case approve` offers it)").format(member=self.address, category=category_display([category.name])[0])
            )
        return self.records.put(resource, patient, recipients=recipients, alone=True)

    def _check_attachable(self, patient: str, record_id: bytes) -> None:
        rid = "0x" + record_id.hex()
        state = self.registry_records.state(record_id)
        if state is None:
            raise CaseInvalid(_("Record {record} is unknown (or anchored in a batch, which a case cannot carry)").format(record=rid))
        if state.erased:
            raise CaseInvalid(_("Record {record} was erased at the patient's request").format(record=rid))
        if to_checksum_address(state.patient) != patient:
            raise CaseInvalid(_("Record {record} is not a record of patient {patient}").format(record=rid, patient=patient))

    def _check_until(self, until: int) -> None:
        now = self.now()
        if not now < until <= now + MAX_CONSENT_SECONDS:
            raise CaseInvalid(_("A case consent ends after now and within {days} days").format(days=MAX_CONSENT_SECONDS // 86400))

    def _live(self, case_id: bytes) -> CaseInfo:
        info = self.info(case_id)
        if info.state != CaseState.APPROVED:
            raise CaseConflict(_("Case {case} is {state}; it must be approved by the patient and not closed").format(case="0x" + case_id.hex(), state=case_state_display(info.state.name)))
        if self.now() > info.consent_until:
            raise CaseConflict(_("The consent of case {case} has expired").format(case="0x" + case_id.hex()))
        return info

    def _require_requester(self, info: CaseInfo) -> None:
        if info.requester != self.address:
            raise CaseForbidden(_("Only the requester of case {case} may do this").format(case="0x" + info.case_id.hex()))

    def _invited(self, case_id: bytes) -> None:
        info = self.info(case_id)
        if info.state not in (CaseState.OPEN, CaseState.APPROVED):
            raise CaseConflict(_("Case {case} is {state}").format(case="0x" + case_id.hex(), state=case_state_display(info.state.name)))
        status = self.cases.consultant(case_id, self.address).status
        if status == ConsultantStatus.NONE:
            raise CaseForbidden(_("{member} is not a consultant of case {case}").format(member=self.address, case="0x" + case_id.hex()))
        if status != ConsultantStatus.INVITED:
            raise CaseConflict(_("This consultant already {status} case {case}").format(status=consultant_status_display(status.name), case="0x" + case_id.hex()))

    def _consultants_of(self, case_id: bytes, consultants: Sequence[str]) -> list[str]:
        out = []
        for consultant in consultants:
            address = _address(consultant, _("consultant"))
            if self.cases.consultant(case_id, address).status == ConsultantStatus.NONE:
                raise CaseInvalid(_("{consultant} is not a consultant of case {case}").format(consultant=address, case="0x" + case_id.hex()))
            out.append(address)
        return out


def _address(value: str, what: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise CaseInvalid(_("The {what} {value} is not a 0x address").format(what=what, value=value))
    return to_checksum_address(value)
