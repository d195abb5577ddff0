"""The ledger's state rebuilt from events alone: members, patients, consents, records, programmes, cards, claims.

`AuditState.apply` changes the state the way each contract changes its storage when it emits that event, so
after the last event the state should equal what the contracts' view functions return. Where an event
carries a value the contract computed (`escrowAfter`, `reservedAfter`, a tally ...), the rebuilt value is kept:
the checks compare the two before the event is applied.

Everything is JSON-native (addresses checksummed, bytes as 0x-hex) so a checkpoint is a plain JSON dump.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from eth_abi import encode
from eth_utils import keccak

from ledger.audit.fetch import ChainEvent

ZERO32 = "0x" + "00" * 32

# ConsortiumRegistry role flags and statuses.
GOVERNOR, PROVIDER, PAYER, PHARMACY, AUDITOR, EMERGENCY = 1, 2, 4, 8, 16, 32
PRIVACY_OFFICER, PUBLIC_HEALTH = 64, 128
ROLE_NAMES = {GOVERNOR: "GOVERNOR", PROVIDER: "PROVIDER", PAYER: "PAYER", PHARMACY: "PHARMACY", AUDITOR: "AUDITOR", EMERGENCY: "EMERGENCY",
              PRIVACY_OFFICER: "PRIVACY_OFFICER", PUBLIC_HEALTH: "PUBLIC_HEALTH"}
MEMBER_ACTIVE, MEMBER_SUSPENDED = 1, 2
PROPOSAL_KINDS = ("Admit", "Suspend", "Reinstate", "ChangeRoles", "RotateKeys")
# ConsentPolicy statuses and purposes.
CONSENT_ACTIVE, CONSENT_REVOKED = 1, 2
TREATMENT, EMERGENCY_PURPOSE = 1, 16
# HealthCardPayments statuses.
CARD_ACTIVE, CARD_SUSPENDED = 1, 2
PA_REQUESTED, PA_APPROVED, PA_REJECTED, PA_CANCELLED, PA_EXPIRED, PA_USED = 1, 2, 3, 4, 5, 6
CLAIM_SUBMITTED, CLAIM_PAID, CLAIM_REJECTED = 1, 2, 3


def hx(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def consent_id(patient: str, grantee: str, version: int) -> str:
    """ConsentPolicy.consentId: keccak256(abi.encode(patient, grantee, uint32 version))."""
    return hx(keccak(encode(["address", "address", "uint32"], [patient, grantee, version])))


def evidence_key(record_id: str, package: str) -> str:
    return f"{record_id}/{package}"


def role_names(roles: int) -> list[str]:
    return [name for flag, name in ROLE_NAMES.items() if roles & flag]


@dataclass(slots=True)
class Member:
    account: str
    name: str
    country: str
    roles: int
    status: int
    hpke_public_key: str
    endpoint: str
    admitted_at: int
    updated_at: int
    governor_term: int = 0
    history: list[list[Any]] = field(default_factory=list)  # [block, tx, change, detail]

    def has_active_role(self, flag: int) -> bool:
        return self.status == MEMBER_ACTIVE and self.roles & flag != 0


@dataclass(slots=True)
class Proposal:
    id: int
    kind: int
    subject: str
    proposer: str
    created_at: int
    expires_at: int
    block: int
    approvals: list[list[Any]] = field(default_factory=list)  # [governor, term] still counting (pending only)
    voters: dict[str, int] = field(default_factory=dict)  # governor -> term its recorded vote was cast in
    tally: int = 0  # the rebuilt count at the last approval
    executed_block: int = 0


@dataclass(slots=True)
class Patient:
    address: str
    hpke_public_key: str = ""
    delegate: str = ""
    registered_block: int = 0


@dataclass(slots=True)
class Consent:
    patient: str
    grantee: str
    categories: int
    purposes: int
    status: int
    valid_from: int
    valid_until: int
    data_from: int
    data_until: int
    version: int
    consent_id: str
    granted_block: int
    granted_tx: str
    revoked_block: int = 0
    revoked_tx: str = ""


@dataclass(slots=True)
class Record:
    record_id: str
    patient: str
    author: str
    category: int
    content_hash: str
    cid: str
    supersedes: str
    consent_id: str
    anchored_at: int
    block: int
    tx: str
    version: int = 1
    superseded_by: str = ""
    upload_signer: str = ""
    erased: bool = False
    erased_block: int = 0


@dataclass(slots=True)
class Batch:
    root: str
    author: str
    count: int
    manifest_cid: str
    anchored_at: int
    block: int
    tx: str


@dataclass(slots=True)
class Programme:
    id: int
    payer: str
    name: str
    currency: str
    default_annual_limit: int
    auto_approval_threshold: int
    pre_auth_validity: int
    created_at: int
    escrow: int = 0
    funded: int = 0
    withdrawn: int = 0
    paid: int = 0
    disbursed: int = 0
    empanelled: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Card:
    id: int
    programme_id: int
    patient: str
    annual_limit: int
    used: int
    reserved: int
    period_start: int
    valid_until: int
    status: int = CARD_ACTIVE


@dataclass(slots=True)
class PreAuth:
    id: int
    card_id: int
    provider: str
    package: str
    amount: int
    status: int = PA_REQUESTED
    expires_at: int = 0


@dataclass(slots=True)
class Claim:
    id: int
    card_id: int
    provider: str
    record_id: str
    package: str
    amount: int
    pre_auth_id: int
    submitted_at: int
    block: int
    tx: str
    status: int = CLAIM_SUBMITTED
    confirmed: bool = False
    overridden: bool = False
    paid_block: int = 0


_COLLECTIONS: dict[str, type] = {
    "members": Member, "proposals": Proposal, "patients": Patient, "consents": Consent, "records": Record, "batches": Batch,
    "programmes": Programme, "cards": Card, "pre_auths": PreAuth, "claims": Claim,
}


@dataclass
class AuditState:
    """The whole rebuilt ledger as of `block` (the last block applied)."""

    block: int = -1
    quorum: int = 0
    members: dict[str, Member] = field(default_factory=dict)
    member_order: list[str] = field(default_factory=list)
    active_governors: int = 0
    proposals: dict[str, Proposal] = field(default_factory=dict)  # JSON keys are strings: str(id)
    patients: dict[str, Patient] = field(default_factory=dict)
    consents: dict[str, Consent] = field(default_factory=dict)  # "patient/grantee"
    consent_ids: dict[str, list[Any]] = field(default_factory=dict)  # consentId -> [patient, grantee, version]
    records: dict[str, Record] = field(default_factory=dict)
    # Batch-anchored erasures by leaf, as RecordRegistry keys them (ids are not unique across batches):
    # leaf -> [recordId, patient, root, block].
    erased_batched: dict[str, list[Any]] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    programmes: dict[str, Programme] = field(default_factory=dict)
    cards: dict[str, Card] = field(default_factory=dict)
    card_of: dict[str, int] = field(default_factory=dict)  # "programme/patient" -> card id
    pre_auths: dict[str, PreAuth] = field(default_factory=dict)
    claims: dict[str, Claim] = field(default_factory=dict)
    evidence: dict[str, int] = field(default_factory=dict)  # "record/package" -> live claim id
    token_supply: int = 0
    token_balances: dict[str, int] = field(default_factory=dict)
    flows: dict[str, Any] = field(default_factory=dict)  # care flow name -> its rule family's JSON state (ledger.audit.flows)

    # ------------------------------------------------------------------ lookups used by the checks

    def member(self, account: str) -> Member | None:
        return self.members.get(account)

    def consent(self, patient: str, grantee: str) -> Consent | None:
        return self.consents.get(f"{patient}/{grantee}")

    def delegate_of(self, patient: str) -> str:
        found = self.patients.get(patient)
        return found.delegate if found else ""

    def programme(self, programme_id: int) -> Programme | None:
        return self.programmes.get(str(programme_id))

    def card(self, card_id: int) -> Card | None:
        return self.cards.get(str(card_id))

    def pre_auth(self, pre_auth_id: int) -> PreAuth | None:
        return self.pre_auths.get(str(pre_auth_id))

    def claim(self, claim_id: int) -> Claim | None:
        return self.claims.get(str(claim_id))

    def proposal(self, proposal_id: int) -> Proposal | None:
        return self.proposals.get(str(proposal_id))

    def counts_vote(self, governor: str, term: int) -> bool:
        """ConsortiumRegistry._counts: the caster is still an active governor in the term it voted in."""
        m = self.members.get(governor)
        return m is not None and m.has_active_role(GOVERNOR) and m.governor_term == term

    def valid_approvals(self, proposal: Proposal) -> list[list[Any]]:
        return [entry for entry in proposal.approvals if self.counts_vote(entry[0], entry[1])]

    # ------------------------------------------------------------------ applying events

    def apply(self, ev: ChainEvent) -> None:
        handler = getattr(self, "_on_" + ev.name, None)
        if handler is not None:
            handler(ev, ev.args)
        self.block = ev.block

    # registry
    def _on_MemberAdmitted(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        m = Member(a["account"], a["name"], bytes(a["country"]).decode("ascii", "replace"), a["roles"], MEMBER_ACTIVE, hx(a["hpkePublicKey"]), a["endpoint"], ev.timestamp, ev.timestamp)
        m.history.append([ev.block, ev.tx, "admitted", f"roles {'+'.join(role_names(a['roles']))}, proposal {a['proposalId']}"])
        self.members[m.account] = m
        self.member_order.append(m.account)
        if m.roles & GOVERNOR:
            self._begin_term(m)

    def _on_MemberSuspended(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        m = self.members.get(a["account"])
        if m is None:
            return
        m.status, m.updated_at = MEMBER_SUSPENDED, ev.timestamp
        m.history.append([ev.block, ev.tx, "suspended", f"{a['reason']} (proposal {a['proposalId']})"])
        if m.roles & GOVERNOR:
            self.active_governors -= 1

    def _on_MemberReinstated(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        m = self.members.get(a["account"])
        if m is None:
            return
        m.status, m.updated_at = MEMBER_ACTIVE, ev.timestamp
        m.history.append([ev.block, ev.tx, "reinstated", f"proposal {a['proposalId']}"])
        if m.roles & GOVERNOR:
            self._begin_term(m)

    def _on_MemberRolesChanged(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        m = self.members.get(a["account"])
        if m is None:
            return
        previous, roles = m.roles, a["roles"]
        m.roles, m.updated_at = roles, ev.timestamp
        m.history.append([ev.block, ev.tx, "roles changed", f"{'+'.join(role_names(previous))} -> {'+'.join(role_names(roles))} (proposal {a['proposalId']})"])
        if m.status == MEMBER_ACTIVE:
            if previous & GOVERNOR and not roles & GOVERNOR:
                self.active_governors -= 1
            elif roles & GOVERNOR and not previous & GOVERNOR:
                self._begin_term(m)

    def _on_MemberKeysRotated(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        m = self.members.get(a["account"])
        if m is None:
            return
        m.hpke_public_key, m.endpoint, m.updated_at = hx(a["hpkePublicKey"]), a["endpoint"], ev.timestamp
        m.history.append([ev.block, ev.tx, "keys rotated", f"proposal {a['proposalId']}"])

    def _begin_term(self, m: Member) -> None:
        m.governor_term += 1
        self.active_governors += 1

    def _on_ProposalCreated(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        pid = a["proposalId"]
        self.proposals[str(pid)] = Proposal(pid, a["kind"], a["subject"], a["proposer"], ev.timestamp, a["expiresAt"], ev.block)

    def _on_ProposalApproved(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        p = self.proposal(a["proposalId"])
        if p is None:
            return
        governor = a["governor"]
        term = self.members[governor].governor_term if governor in self.members else 0
        valid = self.valid_approvals(p)
        p.tally = len(valid) + 1
        # As the contract: the executing vote is not stored; lapsed votes are forgotten.
        p.approvals = valid if p.tally >= self.quorum else valid + [[governor, term]]
        p.voters = {g: t for g, t in p.voters.items() if any(entry[0] == g for entry in valid)}
        p.voters[governor] = term

    def _on_ProposalExecuted(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        p = self.proposal(a["proposalId"])
        if p is not None:
            p.executed_block = ev.block

    # consent ledger
    def _patient(self, address: str) -> Patient:
        found = self.patients.get(address)
        if found is None:
            found = self.patients[address] = Patient(address)
        return found

    def _on_PatientRegistered(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        p = self._patient(a["patient"])
        p.hpke_public_key = hx(a["hpkePublicKey"])
        p.registered_block = p.registered_block or ev.block

    def _on_DelegateSet(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._patient(a["patient"]).delegate = a["delegate"]

    def _on_DelegateRemoved(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        self._patient(a["patient"]).delegate = ""

    def _on_ConsentGranted(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        patient, grantee = a["patient"], a["grantee"]
        self._patient(patient)
        cid = hx(a["consentId"])
        self.consents[f"{patient}/{grantee}"] = Consent(
            patient, grantee, a["categories"], a["purposes"], CONSENT_ACTIVE, a["validFrom"], a["validUntil"], a["dataFrom"], a["dataUntil"], a["version"], cid, ev.block, ev.tx
        )
        self.consent_ids[cid] = [patient, grantee, a["version"]]

    def _on_ConsentRevoked(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        c = self.consent(a["patient"], a["grantee"])
        if c is not None:
            c.status, c.revoked_block, c.revoked_tx = CONSENT_REVOKED, ev.block, ev.tx

    # record registry
    def _on_RecordAnchored(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        rid, supersedes = hx(a["recordId"]), hx(a["supersedes"])
        record = Record(rid, a["patient"], a["author"], a["category"], hx(a["contentHash"]), hx(a["cid"]), supersedes, hx(a["consentId"]), ev.timestamp, ev.block, ev.tx)
        previous = self.records.get(supersedes) if supersedes != ZERO32 else None
        if previous is not None:
            record.version = previous.version + 1
            previous.superseded_by = rid
        self._patient(record.patient)
        self.records[rid] = record

    def _on_UploadAuthorizationUsed(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        record = self.records.get(hx(a["recordId"]))
        if record is not None:
            record.upload_signer = a["signer"]

    def _on_RecordBatchAnchored(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        root = hx(a["root"])
        self.batches[root] = Batch(root, a["author"], a["count"], hx(a["manifestCid"]), ev.timestamp, ev.block, ev.tx)

    def _on_RecordErased(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        rid, root = hx(a["recordId"]), hx(a["batchRoot"])
        if root == ZERO32:
            record = self.records.get(rid)
            if record is not None:
                record.erased, record.erased_block = True, ev.block
        elif ev.call is not None:
            # Without its call the leaf is unknown; the checks flag that erasure.
            self.erased_batched.setdefault(ev.call.leaf, [rid, a["patient"], root, ev.block])

    # payments
    def _on_ProgrammeCreated(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        pid = a["programmeId"]
        currency = bytes(a["currency"]).decode("ascii", "replace")
        self.programmes[str(pid)] = Programme(pid, a["payer"], a["name"], currency, a["defaultAnnualLimit"], a["autoApprovalThreshold"], a["preAuthValidity"], ev.timestamp)

    def _on_ProgrammeUpdated(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        p = self.programme(a["programmeId"])
        if p is not None:
            p.default_annual_limit, p.auto_approval_threshold, p.pre_auth_validity = a["defaultAnnualLimit"], a["autoApprovalThreshold"], a["preAuthValidity"]

    def _on_ProviderEmpanelled(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        p = self.programme(a["programmeId"])
        if p is not None and a["provider"] not in p.empanelled:
            p.empanelled.append(a["provider"])

    def _on_ProviderDelisted(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        p = self.programme(a["programmeId"])
        if p is not None and a["provider"] in p.empanelled:
            p.empanelled.remove(a["provider"])

    def _on_EscrowFunded(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        p = self.programme(a["programmeId"])
        if p is not None:
            p.escrow += a["amount"]
            p.funded += a["amount"]

    def _on_EscrowWithdrawn(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        p = self.programme(a["programmeId"])
        if p is not None:
            p.escrow -= a["amount"]
            p.withdrawn += a["amount"]

    def _on_CardIssued(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        cid = a["cardId"]
        self.cards[str(cid)] = Card(cid, a["programmeId"], a["patient"], a["annualLimit"], 0, 0, a["periodStart"], a["validUntil"])
        self.card_of[f"{a['programmeId']}/{a['patient']}"] = cid
        self._patient(a["patient"])

    def _on_CardRenewed(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        c = self.card(a["cardId"])
        if c is not None:
            c.annual_limit, c.used, c.period_start, c.valid_until = a["annualLimit"], 0, a["periodStart"], a["validUntil"]

    def _on_CardSuspended(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        if (c := self.card(a["cardId"])) is not None:
            c.status = CARD_SUSPENDED

    def _on_CardReactivated(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        if (c := self.card(a["cardId"])) is not None:
            c.status = CARD_ACTIVE

    def _on_PreAuthRequested(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        pid = a["preAuthId"]
        self.pre_auths[str(pid)] = PreAuth(pid, a["cardId"], a["provider"], hx(a["packageCode"]), a["amount"])

    def _on_PreAuthApproved(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        pa, c = self.pre_auth(a["preAuthId"]), self.card(a["cardId"])
        if pa is not None:
            pa.status, pa.expires_at = PA_APPROVED, a["expiresAt"]
            if c is not None:
                c.reserved += pa.amount

    def _on_PreAuthRejected(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        if (pa := self.pre_auth(a["preAuthId"])) is not None:
            pa.status = PA_REJECTED

    def _on_PreAuthReleased(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        pa, c = self.pre_auth(a["preAuthId"]), self.card(a["cardId"])
        if pa is None:
            return
        if pa.status == PA_APPROVED and c is not None:
            c.reserved -= pa.amount
        pa.status = a["status"]

    def _on_ClaimSubmitted(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        claim_id, c = a["claimId"], self.card(a["cardId"])
        amount, pre_auth_id = a["amount"], a["preAuthId"]
        if c is not None:
            pa = self.pre_auth(pre_auth_id) if pre_auth_id else None
            if pa is not None:
                pa.status = PA_USED
                c.reserved -= max(0, pa.amount - amount)
            else:
                c.reserved += amount
        record_id, package = hx(a["recordId"]), hx(a["packageCode"])
        self.claims[str(claim_id)] = Claim(claim_id, a["cardId"], a["provider"], record_id, package, amount, pre_auth_id, ev.timestamp, ev.block, ev.tx)
        self.evidence[evidence_key(record_id, package)] = claim_id

    def _on_ClaimConfirmed(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        if (cl := self.claim(a["claimId"])) is not None:
            cl.confirmed = True

    def _on_ClaimPaid(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        cl = self.claim(a["claimId"])
        if cl is None:
            return
        cl.status, cl.overridden, cl.paid_block = CLAIM_PAID, bool(a["confirmationOverridden"]), ev.block
        if (c := self.card(cl.card_id)) is not None:
            c.used += cl.amount
            c.reserved -= cl.amount
            if (p := self.programme(c.programme_id)) is not None:
                p.escrow -= cl.amount
                p.paid += cl.amount

    def _on_ClaimRejected(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        cl = self.claim(a["claimId"])
        if cl is None:
            return
        cl.status = CLAIM_REJECTED
        if (c := self.card(cl.card_id)) is not None:
            c.reserved -= cl.amount
        self.evidence.pop(evidence_key(cl.record_id, cl.package), None)

    def _on_CashDisbursed(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        c, p = self.card(a["cardId"]), self.programme(a["programmeId"])
        if c is not None:
            c.used += a["amount"]
        if p is not None:
            p.escrow -= a["amount"]
            p.disbursed += a["amount"]

    # settlement token
    def _on_Transfer(self, ev: ChainEvent, a: dict[str, Any]) -> None:
        sender, to, value = a["from"], a["to"], a["value"]
        if int(sender, 16) == 0:
            self.token_supply += value
        else:
            self.token_balances[sender] = self.token_balances.get(sender, 0) - value
        if int(to, 16) == 0:
            self.token_supply -= value
        else:
            self.token_balances[to] = self.token_balances.get(to, 0) + value

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = {key: asdict(item) for key, item in value.items()} if f.name in _COLLECTIONS else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "AuditState":
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name, {}) if f.name == "flows" else data[f.name]
            kwargs[f.name] = {key: _COLLECTIONS[f.name](**item) for key, item in value.items()} if f.name in _COLLECTIONS else value
        return cls(**kwargs)
