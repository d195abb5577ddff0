"""The rules, checked event by event against the state rebuilt from every earlier event.

`EventChecker.check(event)` runs *before* the event is applied, so "at that block" means exactly what the
contract saw when it executed: every earlier transaction, and earlier logs of the same transaction, applied.
Checks here see only events; what only storage can tell (storage changed without events) is `views.py`'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.audit.calls import BatchedCall
from ledger.audit.fetch import ChainEvent
from ledger.audit.state import (
    CARD_ACTIVE,
    CLAIM_SUBMITTED,
    CONSENT_ACTIVE,
    GOVERNOR,
    PA_APPROVED,
    PA_REQUESTED,
    PAYER,
    PROPOSAL_KINDS,
    PROVIDER,
    TREATMENT,
    ZERO32,
    AuditState,
    Consent,
    consent_id,
    evidence_key,
    hx,
    role_names,
)
from ledger.audit.violations import Violation
from ledger.vocabulary import Category

MAX_CATEGORY_CODE = 15
# Which proposal kind each directory event executes.
_EXECUTES = {"MemberAdmitted": 0, "MemberSuspended": 1, "MemberReinstated": 2, "MemberRolesChanged": 3, "MemberKeysRotated": 4}


def category_name(code: int) -> str:
    try:
        return Category(code).name
    except ValueError:
        return f"category {code}"


class EventChecker:
    """Checks each event against the rebuilt state; collects violations of the events it is told to judge."""

    def __init__(self, state: AuditState, *, genesis_block: int, payments_address: str, judge_from: int = 0) -> None:
        self.state = state
        self.judge_from = judge_from  # events before this block only build state (the audited range starts here)
        self.genesis_block = genesis_block
        self.payments = payments_address
        self.violations: list[Violation] = []
        self._tx = ""
        self._pending_uploads: dict[str, ChainEvent] = {}  # record id -> RecordAnchored awaiting its authorisation
        self._pending_moves: list[tuple[str, str, int, ChainEvent]] = []  # (from, to, amount, event) the token must show
        self._ev: ChainEvent | None = None

    # ------------------------------------------------------------------ driving

    def check(self, ev: ChainEvent) -> None:
        """Check `ev` against the state before it; call before `AuditState.apply(ev)`."""
        if ev.tx != self._tx:
            self.end_transaction()
            self._tx = ev.tx
        self._ev = ev
        handler: Callable[[ChainEvent, dict[str, Any]], None] | None = getattr(self, "_on_" + ev.name, None)
        if handler is not None:
            handler(ev, ev.args)

    def end_transaction(self) -> None:
        """Rules that span the logs of one transaction: upload authorisations, token movements."""
        for record_id, anchored in self._pending_uploads.items():
            self._flag("record-authorship", f"record {record_id} was anchored without a consent and without a patient upload authorisation", record_id, anchored)
        for sender, to, amount, ev in self._pending_moves:
            self._flag("escrow", f"{ev.name} promised {amount} tokens from {sender} to {to}, but no such token transfer happened in the transaction", "", ev)
        self._pending_uploads, self._pending_moves = {}, []
        self._tx = ""

    def flag(self, rule: str, explanation: str, subject: str = "", ev: ChainEvent | None = None) -> None:
        """Records a violation of `rule` at `ev` (default: the event being checked), if it is in the judged range."""
        self._flag(rule, explanation, subject, ev)

    def require_member(self, account: str, role: int | None, acting: str) -> bool:
        """member-active, for the care flows' rule families (ledger.audit.flows)."""
        return self._require_member(account, role, acting)

    def _flag(self, rule: str, explanation: str, subject: str = "", ev: ChainEvent | None = None) -> None:
        ev = ev or self._ev
        if ev is None or ev.block < self.judge_from:
            return
        self.violations.append(Violation(rule, ev.block, ev.tx, ev.log_index, explanation, subject))

    # ------------------------------------------------------------------ shared rules

    def _require_member(self, account: str, role: int | None, acting: str) -> bool:
        """member-active: `account` is an active member (holding `role` when given) right now."""
        m = self.state.member(account)
        if m is None:
            self._flag("member-active", f"{acting}: {account} is not a consortium member", account)
            return False
        if m.status != 1:
            since = next((h for h in reversed(m.history) if h[2] == "suspended"), None)
            when = f" since block {since[0]} (tx {since[1]})" if since else ""
            self._flag("member-active", f"{acting}: {m.name} ({account}) is suspended{when}", account)
            return False
        if role is not None and not m.roles & role:
            self._flag("member-active", f"{acting}: {m.name} ({account}) does not hold the {role_names(role)[0]} role (holds {'+'.join(role_names(m.roles)) or 'none'})", account)
            return False
        return True

    def _consent_in_force(self, ev: ChainEvent, named_id: str, patient: str, grantee: str, what: str) -> Consent | None:
        """The consent `named_id` if it is (patient, grantee)'s current, active, in-force version; else flagged."""
        ref = self.state.consent_ids.get(named_id)
        if ref is None:
            self._flag("access-consent", f"{what} names consent {named_id}, which was never granted (no ConsentGranted event)", named_id)
            return None
        if (ref[0], ref[1]) != (patient, grantee):
            self._flag("access-consent", f"{what} names consent {named_id} of {ref[0]} to {ref[1]}, not of {patient} to {grantee}", named_id)
            return None
        c = self.state.consent(patient, grantee)
        assert c is not None  # consent_ids only names granted pairs
        if c.version != ref[2]:
            self._flag("consent-in-force", f"{what} used consent version {ref[2]}, replaced by version {c.version} at block {c.granted_block} (tx {c.granted_tx})", named_id)
            return None
        if c.status != CONSENT_ACTIVE:
            self._flag("consent-in-force", f"{what} used consent {named_id} after it was revoked at block {c.revoked_block} (tx {c.revoked_tx})", named_id)
            return None
        if ev.timestamp >= c.valid_until:
            self._flag("consent-in-force", f"{what} used consent {named_id} after it expired (valid until {c.valid_until}, block time {ev.timestamp})", named_id)
            return None
        if ev.timestamp < c.valid_from:
            self._flag("consent-in-force", f"{what} used consent {named_id} before it started (valid from {c.valid_from}, block time {ev.timestamp})", named_id)
            return None
        return c

    # ------------------------------------------------------------------ registry and governance

    def _directory_change(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        pid = a["proposalId"]
        if pid == 0:
            if ev.block != self.genesis_block:
                self._flag("governance", f"{ev.name} of {a['account']} without a proposal outside the genesis block {self.genesis_block}", a["account"])
            return
        p = self.state.proposal(pid)
        if p is None:
            self._flag("governance", f"{ev.name} of {a['account']} executes proposal {pid}, which was never created", a["account"])
            return
        if p.executed_block:
            self._flag("governance", f"{ev.name} executes proposal {pid} a second time (first at block {p.executed_block})", a["account"])
        if p.subject != a["account"] or p.kind != _EXECUTES[ev.name]:
            self._flag("governance", f"{ev.name} of {a['account']} does not match proposal {pid} ({PROPOSAL_KINDS[p.kind]} of {p.subject})", a["account"])
        if p.tally < self.state.quorum:
            self._flag("governance", f"proposal {pid} ({PROPOSAL_KINDS[p.kind]} of {p.subject}) executed with {p.tally} valid approvals; quorum is {self.state.quorum}", a["account"])

    _on_MemberAdmitted = _on_MemberSuspended = _on_MemberReinstated = _on_MemberRolesChanged = _on_MemberKeysRotated = _directory_change

    def _on_ProposalCreated(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._require_member(a["proposer"], GOVERNOR, f"proposal {a['proposalId']} created")
        if self.state.proposal(a["proposalId"]) is not None:
            self._flag("event-consistency", f"proposal id {a['proposalId']} was created twice", str(a["proposalId"]))

    def _on_ProposalApproved(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        pid, governor = a["proposalId"], a["governor"]
        self._require_member(governor, GOVERNOR, f"approval of proposal {pid}")
        p = self.state.proposal(pid)
        if p is None:
            self._flag("governance", f"approval of proposal {pid}, which was never created", str(pid))
            return
        if p.executed_block:
            self._flag("governance", f"approval of proposal {pid} after it executed at block {p.executed_block}", str(pid))
        if ev.timestamp >= p.expires_at:
            self._flag("governance", f"approval of proposal {pid} after it expired ({p.expires_at})", str(pid))
        m = self.state.member(governor)
        if m is not None and p.voters.get(governor) == m.governor_term and self.state.counts_vote(governor, m.governor_term):
            self._flag("governance", f"{governor} approved proposal {pid} twice in the same governor term", str(pid))
        expected = len(self.state.valid_approvals(p)) + 1
        if a["approvals"] != expected:
            self._flag("event-consistency", f"approval of proposal {pid} reports {a['approvals']} approvals; the valid votes recounted give {expected}", str(pid))

    # ------------------------------------------------------------------ consent ledger

    def _actor_for(self, patient: str, actor: str) -> bool:
        return actor == patient or (actor != "" and actor == self.state.delegate_of(patient))

    def _on_ConsentGranted(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        patient, grantee, version = a["patient"], a["grantee"], a["version"]
        what = f"consent of {patient} to {grantee}"
        self._require_member(grantee, None, f"{what} granted")
        if not self._actor_for(patient, a["actor"]):
            self._flag("access-consent", f"{what} was granted by {a['actor']}, neither the patient nor its delegate", hx(a["consentId"]))
        previous = self.state.consent(patient, grantee)
        expected_version = (previous.version if previous else 0) + 1
        if version != expected_version:
            self._flag("event-consistency", f"{what} granted as version {version}; the replay expects {expected_version}", hx(a["consentId"]))
        if hx(a["consentId"]) != consent_id(patient, grantee, version):
            self._flag("event-consistency", f"{what} version {version} has id {hx(a['consentId'])}, not keccak256(patient, grantee, version)", hx(a["consentId"]))

    def _on_ConsentRevoked(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        patient, grantee = a["patient"], a["grantee"]
        c = self.state.consent(patient, grantee)
        if not self._actor_for(patient, a["actor"]):
            self._flag("access-consent", f"consent of {patient} to {grantee} was revoked by {a['actor']}, neither the patient nor its delegate", hx(a["consentId"]))
        if c is None or c.status != CONSENT_ACTIVE or c.version != a["version"]:
            self._flag("event-consistency", f"revocation of consent {hx(a['consentId'])} which the replay does not hold as active", hx(a["consentId"]))

    # ------------------------------------------------------------------ records

    def _on_RecordAnchored(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        rid, patient, author, category = hx(a["recordId"]), a["patient"], a["author"], a["category"]
        what = f"record {rid} ({category_name(category)}) anchored by {author}"
        self._require_member(author, PROVIDER, what)
        # Only records anchored on their own: batch records' ids are not identities (their erasure blocks nothing).
        if rid in self.state.records:
            self._flag("event-consistency", f"{what}: the record id was already anchored", rid)
        if category > MAX_CATEGORY_CODE:
            self._flag("record-authorship", f"{what}: category code {category} is out of range", rid)
        supersedes = hx(a["supersedes"])
        if supersedes != ZERO32:
            previous = self.state.records.get(supersedes)
            if previous is None:
                self._flag("record-authorship", f"{what} supersedes {supersedes}, which is not a known record", rid)
            elif previous.patient != patient or previous.erased:
                self._flag("record-authorship", f"{what} supersedes {supersedes}, which belongs to another patient or is erased", rid)
        named = hx(a["consentId"])
        if named == ZERO32:
            self._pending_uploads[rid] = ev  # resolved by UploadAuthorizationUsed in the same transaction
            return
        c = self._consent_in_force(ev, named, patient, author, what)
        if c is None:
            return
        bit = 1 << category if category <= MAX_CATEGORY_CODE else 0
        if not (c.categories & bit and c.purposes & TREATMENT):
            self._flag("record-authorship", f"{what}: consent {named} does not cover {category_name(category)} for TREATMENT", rid)
        elif not (c.data_from <= ev.timestamp and (c.data_until == 0 or ev.timestamp < c.data_until)):
            self._flag("record-authorship", f"{what}: block time {ev.timestamp} is outside the consent's data period", rid)

    def _on_UploadAuthorizationUsed(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        rid = hx(a["recordId"])
        anchored = self._pending_uploads.pop(rid, None)
        if anchored is None:
            self._flag("record-authorship", f"upload authorisation for record {rid} without its anchor in the same transaction", rid)
            return
        patient = anchored.args["patient"]
        if not self._actor_for(patient, a["signer"]):
            self._flag("record-authorship", f"record {rid} was authorised by {a['signer']}, neither the patient {patient} nor its delegate", rid)

    def _on_RecordBatchAnchored(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        root = hx(a["root"])
        self._require_member(a["author"], PROVIDER, f"batch {root} anchored")
        if root in self.state.batches:
            self._flag("event-consistency", f"batch {root} was anchored twice", root)

    def _on_RecordErased(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        rid, root = hx(a["recordId"]), hx(a["batchRoot"])
        if root == ZERO32:
            record = self.state.records.get(rid)
            if record is None or record.patient != a["patient"] or record.erased:
                self._flag("event-consistency", f"erasure of record {rid}, which the replay does not hold as an unerased record of {a['patient']}", rid)
        else:
            self._batched_erasure(ev, rid, a["patient"], root)

    def _batched_erasure(self, ev: ChainEvent, rid: str, patient: str, root: str) -> None:
        """The erased leaf comes from the call (ledger.audit.calls): markers are per leaf, not per id."""
        what = f"erasure of batched record {rid} of {patient} in batch {root}"
        if root not in self.state.batches:
            self._flag("event-consistency", f"{what}: the batch was never anchored", rid)
        call = ev.call
        if call is None:
            self._flag("event-consistency", f"{what}: its transaction is not a direct RecordRegistry erasure call, so the erased record (leaf) cannot be established from the chain", rid)
            return
        if (call.record_id, call.patient, call.root) != (rid, patient, root) or not call.proven:
            self._flag("event-consistency", f"{what}: the event disagrees with its call ({call.function} of {call.record_id} of {call.patient} in {call.root}, proof {'valid' if call.proven else 'invalid'})", rid)
        earlier = self.state.erased_batched.get(call.leaf)
        if earlier is not None:
            self._flag("event-consistency", f"{what}: its leaf {call.leaf} was already erased at block {earlier[3]} (batch {earlier[2]})", rid)

    def _on_RecordsAccessed(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        patient, reader, purpose = a["patient"], a["reader"], a["purpose"]
        ids = [hx(r) for r in a["recordIds"]]
        what = f"access by {reader} to {len(ids)} record(s) of {patient} for purpose {purpose}"
        self._require_member(reader, None, what)
        records: list[tuple[str, int, int]] = []  # (record id, category, data time) the consent must cover
        call = ev.call
        if call is not None:  # batchedRecordAccessed: the record is the call's leaf, whatever its id
            records = self._batched_access(call, ids, patient, what)
        for rid in ids if call is None else []:
            record = self.state.records.get(rid)
            if record is None:
                continue  # a batch-anchored record read without a decodable call: its leaf is unknown
            if record.patient != patient:
                self._flag("event-consistency", f"{what}: record {rid} belongs to {record.patient}", rid)
            if record.erased:
                self._flag("access-consent", f"{what}: record {rid} was erased at block {record.erased_block}", rid)
            records.append((rid, record.category, record.anchored_at))
        named = hx(a["consentId"])
        if named == ZERO32:
            # RecordRegistry logs every read under a consent (EMERGENCY included): emergency reads without one go
            # through the BreakGlass flow, whose own rules judge them.
            self._flag("access-consent", f"{what} was logged without a consent; only a break-glass gives emergency reads without one", ",".join(ids))
            return
        c = self._consent_in_force(ev, named, patient, reader, what)
        if c is None:
            return
        if not c.purposes & purpose:
            self._flag("access-consent", f"{what}: consent {named} does not cover that purpose (covers {c.purposes})", named)
        for rid, category, data_time in records:
            if not c.categories & (1 << category):
                self._flag("access-consent", f"{what}: consent {named} does not cover {category_name(category)} (record {rid})", rid)
            elif not (c.data_from <= data_time and (c.data_until == 0 or data_time < c.data_until)):
                self._flag("access-consent", f"{what}: record {rid} lies outside the consent's data period", rid)

    def _batched_access(self, call: BatchedCall, ids: list[str], patient: str, what: str) -> list[tuple[str, int, int]]:
        """Checks a read of a batch-anchored record; its (id, category, data time) for the consent checks."""
        rid = call.record_id
        batch = self.state.batches.get(call.root)
        if batch is None or ids != [rid] or call.patient != patient or not call.proven:
            self._flag("event-consistency", f"{what}: the event disagrees with its call ({call.function} of {rid} of {call.patient} in batch {call.root}, proof {'valid' if call.proven else 'invalid'}, batch {'known' if batch else 'unknown'})", rid)
        erased = self.state.erased_batched.get(call.leaf)
        if erased is not None:
            self._flag("access-consent", f"{what}: batched record {rid} (leaf {call.leaf}) was erased at block {erased[3]} (batch {erased[2]})", rid)
        if batch is None or call.category > MAX_CATEGORY_CODE:
            return []
        # As the contract: the data time of a batch record is its batch's anchoring time.
        return [(rid, call.category, batch.anchored_at)]

    # ------------------------------------------------------------------ payments

    def _payer_acts(self, programme_id: int, what: str, payer: str | None = None) -> None:
        p = self.state.programme(programme_id)
        if p is None:
            self._flag("event-consistency", f"{what}: programme {programme_id} was never created", str(programme_id))
            return
        if payer is not None and payer != p.payer:
            self._flag("member-active", f"{what}: done by {payer}, not the programme's payer {p.payer}", str(programme_id))
        self._require_member(p.payer, PAYER, what)

    def _on_ProgrammeCreated(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._require_member(a["payer"], PAYER, f"programme {a['programmeId']} created")

    def _on_ProgrammeUpdated(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._payer_acts(a["programmeId"], f"programme {a['programmeId']} updated")

    def _on_ProviderEmpanelled(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._payer_acts(a["programmeId"], f"empanelment of {a['provider']}")
        self._require_member(a["provider"], PROVIDER, f"empanelment in programme {a['programmeId']}")

    def _on_ProviderDelisted(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._payer_acts(a["programmeId"], f"delisting of {a['provider']}")

    def _escrow_after(self, programme_id: int, delta: int, reported: int, what: str) -> None:
        p = self.state.programme(programme_id)
        if p is None:
            return
        expected = p.escrow + delta
        if expected < 0:
            self._flag("escrow", f"{what}: escrow of programme {programme_id} would go negative ({p.escrow} {delta:+})", str(programme_id))
        if reported != expected:
            self._flag("escrow", f"{what}: event reports escrow {reported}, the replay gives {p.escrow} {delta:+} = {expected}", str(programme_id))

    def _on_EscrowFunded(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        pid = a["programmeId"]
        self._payer_acts(pid, f"funding of programme {pid}", a["payer"])
        self._escrow_after(pid, a["amount"], a["escrowAfter"], f"funding of programme {pid}")
        self._pending_moves.append(("0x" + "00" * 20, self.payments, a["amount"], ev))

    def _on_EscrowWithdrawn(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        pid = a["programmeId"]
        self._payer_acts(pid, f"withdrawal from programme {pid}", a["payer"])
        self._escrow_after(pid, -a["amount"], a["escrowAfter"], f"withdrawal from programme {pid}")
        self._pending_moves.append((self.payments, a["payer"], a["amount"], ev))

    def _on_CardIssued(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._payer_acts(a["programmeId"], f"card {a['cardId']} issued")
        if f"{a['programmeId']}/{a['patient']}" in self.state.card_of:
            self._flag("event-consistency", f"second card for {a['patient']} in programme {a['programmeId']}", str(a["cardId"]))

    def _card_by_payer(self, card_id: int, what: str) -> None:
        c = self.state.card(card_id)
        if c is None:
            self._flag("event-consistency", f"{what}: card {card_id} was never issued", str(card_id))
            return
        self._payer_acts(c.programme_id, what)

    def _on_CardRenewed(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._card_by_payer(a["cardId"], f"card {a['cardId']} renewed")
        c = self.state.card(a["cardId"])
        if c is not None and (a["previousUsed"], a["reserved"]) != (c.used, c.reserved):
            self._flag("event-consistency", f"renewal of card {c.id} reports used {a['previousUsed']} / reserved {a['reserved']}; the replay has {c.used} / {c.reserved}", str(c.id))

    def _on_CardSuspended(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._card_by_payer(a["cardId"], f"card {a['cardId']} suspended")

    def _on_CardReactivated(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._card_by_payer(a["cardId"], f"card {a['cardId']} reactivated")

    def _eligible(self, card_id: int, ev: ChainEvent, what: str) -> None:
        c = self.state.card(card_id)
        if c is None:
            return
        if c.status != CARD_ACTIVE:
            self._flag("claims", f"{what}: card {card_id} is suspended", str(card_id))
        elif ev.timestamp >= c.valid_until:
            self._flag("claims", f"{what}: card {card_id} expired at {c.valid_until}", str(card_id))

    def _remaining(self, card_id: int) -> int:
        c = self.state.card(card_id)
        return 0 if c is None else max(0, c.annual_limit - c.used - c.reserved)

    def _empanelled_provider(self, card_id: int, provider: str, what: str) -> None:
        c = self.state.card(card_id)
        if c is None:
            self._flag("event-consistency", f"{what}: card {card_id} was never issued", str(card_id))
            return
        p = self.state.programme(c.programme_id)
        if p is not None and provider not in p.empanelled:
            self._flag("claims", f"{what}: {provider} is not empanelled in programme {p.id}", provider)
        self._require_member(provider, PROVIDER, what)

    def _on_PreAuthRequested(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        what = f"pre-authorisation {a['preAuthId']} on card {a['cardId']}"
        self._empanelled_provider(a["cardId"], a["provider"], what)
        self._eligible(a["cardId"], ev, what)
        if a["amount"] > self._remaining(a["cardId"]):
            self._flag("claims", f"{what}: {a['amount']} exceeds the card's remaining {self._remaining(a['cardId'])}", str(a["preAuthId"]))

    def _reserved_after(self, card_id: int, expected_delta: int, reported: int, what: str) -> None:
        c = self.state.card(card_id)
        if c is not None and c.reserved + expected_delta != reported:
            self._flag("event-consistency", f"{what}: event reports {reported} reserved on card {card_id}, the replay gives {c.reserved + expected_delta}", str(card_id))

    def _on_PreAuthApproved(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        pa = self.state.pre_auth(a["preAuthId"])
        what = f"approval of pre-authorisation {a['preAuthId']}"
        if pa is None or pa.status != PA_REQUESTED:
            self._flag("event-consistency", f"{what}: it is not a requested pre-authorisation", str(a["preAuthId"]))
            return
        if not a["automatic"]:
            self._card_by_payer(pa.card_id, what)
            self._eligible(pa.card_id, ev, what)
            if pa.amount > self._remaining(pa.card_id):
                self._flag("claims", f"{what}: {pa.amount} exceeds the card's remaining {self._remaining(pa.card_id)}", str(pa.id))
        self._reserved_after(pa.card_id, pa.amount, a["reservedAfter"], what)

    def _on_PreAuthRejected(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._card_by_payer(a["cardId"], f"rejection of pre-authorisation {a['preAuthId']}")

    def _on_PreAuthReleased(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        pa = self.state.pre_auth(a["preAuthId"])
        what = f"release of pre-authorisation {a['preAuthId']}"
        if pa is None or pa.status not in (PA_REQUESTED, PA_APPROVED):
            self._flag("event-consistency", f"{what}: it is neither requested nor approved", str(a["preAuthId"]))
            return
        c = self.state.card(pa.card_id)
        by = a["by"]
        if a["status"] == 5:  # Expired: any active member may release
            self._require_member(by, None, what)
        elif by == pa.provider:
            self._require_member(by, PROVIDER, what)
        elif c is not None and (p := self.state.programme(c.programme_id)) is not None and by == p.payer:
            self._require_member(by, PAYER, what)
        else:
            self._flag("member-active", f"{what}: by {by}, neither its provider nor the programme's payer", by)
        released = pa.amount if pa.status == PA_APPROVED else 0
        if a["released"] != released:
            self._flag("event-consistency", f"{what}: event reports {a['released']} released, the replay gives {released}", str(pa.id))
        self._reserved_after(pa.card_id, -released, a["reservedAfter"], what)

    def _on_ClaimSubmitted(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        claim_id, card_id, provider, amount = a["claimId"], a["cardId"], a["provider"], a["amount"]
        rid, package = hx(a["recordId"]), hx(a["packageCode"])
        what = f"claim {claim_id} by {provider} on card {card_id}"
        self._empanelled_provider(card_id, provider, what)
        self._eligible(card_id, ev, what)
        c = self.state.card(card_id)
        record = self.state.records.get(rid)
        if record is None:
            self._flag("claims", f"{what}: evidence record {rid} was never anchored on its own", rid)
        else:
            if c is not None and record.patient != c.patient:
                self._flag("claims", f"{what}: evidence record {rid} belongs to {record.patient}, not the card's patient {c.patient}", rid)
            if record.erased:
                self._flag("claims", f"{what}: evidence record {rid} was erased", rid)
            if not self._evidence_consent(record, provider, ev):
                self._flag("claims", f"{what}: the claimant held no consent of {record.patient}, in force, covering evidence record {rid} for TREATMENT or PAYMENT", rid)
            if record.author != provider:
                self._flag("claims", f"{what}: the claimant is not the author of evidence record {rid} (authored by {record.author} at block {record.block})", rid)
        live = self.state.evidence.get(evidence_key(rid, package))
        if live is not None:
            self._flag("claims", f"{what}: record {rid} and package were already claimed by claim {live}", str(claim_id))
        if a["preAuthId"]:
            pa = self.state.pre_auth(a["preAuthId"])
            if pa is None or pa.status != PA_APPROVED or ev.timestamp >= pa.expires_at or pa.card_id != card_id or pa.provider != provider or pa.package != package:
                self._flag("claims", f"{what}: pre-authorisation {a['preAuthId']} is not an approved, unexpired one for this card, provider and package", str(claim_id))
            elif amount > pa.amount:
                self._flag("claims", f"{what}: {amount} exceeds pre-authorised {pa.amount}", str(claim_id))
            else:
                self._reserved_after(card_id, -(pa.amount - amount), a["reservedAfter"], what)
        else:
            if amount > self._remaining(card_id):
                self._flag("claims", f"{what}: {amount} exceeds the card's remaining {self._remaining(card_id)}", str(claim_id))
            self._reserved_after(card_id, amount, a["reservedAfter"], what)
        if self.state.claim(claim_id) is not None:
            self._flag("event-consistency", f"claim id {claim_id} was submitted twice", str(claim_id))

    def _evidence_consent(self, record: Any, provider: str, ev: ChainEvent) -> bool:
        """HealthCardPayments' evidence-access rule: the provider's consent from the record's patient is active, in force,
        covers the record's category for TREATMENT or PAYMENT, and the record's anchoring time is in its data period."""
        c = self.state.consent(record.patient, provider)
        return (
            c is not None and c.status == CONSENT_ACTIVE and c.valid_from <= ev.timestamp < c.valid_until
            and bool(c.categories & (1 << record.category)) and bool(c.purposes & 3)
            and c.data_from <= record.anchored_at and (c.data_until == 0 or record.anchored_at < c.data_until)
        )

    def _on_ClaimConfirmed(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        cl = self.state.claim(a["claimId"])
        what = f"confirmation of claim {a['claimId']}"
        self._require_member(a["relayer"], None, what)
        if cl is None or cl.status != CLAIM_SUBMITTED or cl.confirmed:
            self._flag("claims", f"{what}: the claim is not a submitted, unconfirmed claim", str(a["claimId"]))
            return
        c = self.state.card(cl.card_id)
        if c is not None and not self._actor_for(c.patient, a["signer"]):
            self._flag("claims", f"{what}: signed by {a['signer']}, neither the patient {c.patient} nor its delegate", str(cl.id))

    def _on_ClaimPaid(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        claim_id = a["claimId"]
        cl = self.state.claim(claim_id)
        what = f"payment of claim {claim_id}"
        if cl is None:
            self._flag("claims", f"{what}: the claim was never submitted", str(claim_id))
            return
        if cl.status != CLAIM_SUBMITTED:
            self._flag("claims", f"{what}: the claim was already {'paid at block ' + str(cl.paid_block) if cl.paid_block else 'rejected'}", str(claim_id))
            return
        c = self.state.card(cl.card_id)
        if c is None:
            return
        self._payer_acts(c.programme_id, what)
        self._require_member(cl.provider, PROVIDER, what)
        if (a["cardId"], a["programmeId"], a["provider"], a["amount"]) != (cl.card_id, c.programme_id, cl.provider, cl.amount):
            self._flag("event-consistency", f"{what}: card / programme / provider / amount differ from the submitted claim", str(claim_id))
        record = self.state.records.get(cl.record_id)
        if a["confirmationOverridden"] and record is not None and not self._evidence_consent(record, cl.provider, ev):
            self._flag("claims", f"{what}: paid by override although the provider no longer held the patient's consent to evidence record {cl.record_id}", str(claim_id))
        if not cl.confirmed and not a["confirmationOverridden"]:
            self._flag("claims", f"{what}: paid without the patient's confirmation and without a recorded override", str(claim_id))
        if cl.confirmed and a["confirmationOverridden"]:
            self._flag("event-consistency", f"{what}: reports an override although the patient confirmed", str(claim_id))
        if c.used + cl.amount > c.annual_limit:
            self._flag("claims", f"{what}: usage {c.used} + {cl.amount} exceeds the card's limit {c.annual_limit}", str(claim_id))
        if (a["usedAfter"], a["reservedAfter"]) != (c.used + cl.amount, c.reserved - cl.amount):
            self._flag("event-consistency", f"{what}: event reports used {a['usedAfter']} / reserved {a['reservedAfter']}, the replay gives {c.used + cl.amount} / {c.reserved - cl.amount}", str(claim_id))
        self._escrow_after(c.programme_id, -cl.amount, a["escrowAfter"], what)
        self._pending_moves.append((self.payments, cl.provider, cl.amount, ev))

    def _on_ClaimRejected(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        cl = self.state.claim(a["claimId"])
        what = f"rejection of claim {a['claimId']}"
        if cl is None or cl.status != CLAIM_SUBMITTED:
            self._flag("claims", f"{what}: the claim is not a submitted claim", str(a["claimId"]))
            return
        self._card_by_payer(cl.card_id, what)
        self._reserved_after(cl.card_id, -cl.amount, a["reservedAfter"], what)

    def _on_CashDisbursed(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        card_id, amount = a["cardId"], a["amount"]
        what = f"cash allowance of {amount} on card {card_id}"
        self._card_by_payer(card_id, what)
        self._eligible(card_id, ev, what)
        c = self.state.card(card_id)
        if c is None:
            return
        if amount > self._remaining(card_id):
            self._flag("claims", f"{what}: exceeds the card's remaining {self._remaining(card_id)}", str(card_id))
        if a["usedAfter"] != c.used + amount or a["patient"] != c.patient:
            self._flag("event-consistency", f"{what}: event reports used {a['usedAfter']} for {a['patient']}, the replay gives {c.used + amount} for {c.patient}", str(card_id))
        self._escrow_after(c.programme_id, -amount, a["escrowAfter"], what)
        self._pending_moves.append((self.payments, c.patient, amount, ev))

    def _on_Transfer(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        sender, to, value = a["from"], a["to"], a["value"]
        for index, (m_from, m_to, amount, _ev) in enumerate(self._pending_moves):
            if (m_from.lower(), m_to.lower(), amount) == (sender.lower(), to.lower(), value):
                del self._pending_moves[index]
                return
        if sender.lower() == self.payments.lower() or int(sender, 16) == 0:
            self._flag("escrow", f"{value} tokens moved from {sender} to {to} without a payments event", to)
