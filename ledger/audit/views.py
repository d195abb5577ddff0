"""The rebuilt state against the contracts' own view functions at the end block.

A difference means storage changed without the event that should explain it (e.g. `anvil_setStorageAt` on the
node's private port, a buggy upgrade, a corrupted node). Every member, proposal, consent, patient key and
delegate, record (its author included), batch, programme, empanelment, card, pre-authorisation, claim and escrow
the events name is compared, plus the counters and the settlement token's supply and escrow balance. Storage no event ever
named (e.g. a consent slot for a pair that was never granted) cannot be enumerated; it is caught when it is
used, because the event that uses it names something the replay never saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.audit.fetch import ContractSet, ViewCaller
from ledger.audit.state import AuditState, hx
from ledger.audit.violations import Violation


def _norm(value: Any) -> Any:
    """Views decode to bytes / checksummed str / ints / tuples; compare them in one spelling."""
    if isinstance(value, (bytes, bytearray)):
        return hx(value)
    if isinstance(value, str) and value.startswith("0x"):
        return value.lower()
    if isinstance(value, (list, tuple)):
        return tuple(_norm(item) for item in value)
    return value


class _Comparison:
    def __init__(self, caller: ViewCaller, block: int) -> None:
        self.caller = caller
        self.block = block
        self.expectations: list[tuple[int, Any, str, str]] = []
        self.violations: list[Violation] = []

    def expect(self, contract: Any, function: str, args: tuple[Any, ...], expected: Any, what: str, subject: str) -> None:
        index = self.caller.add(contract, function, *args)
        self.expectations.append((index, expected, what, subject))

    def run(self, rule_for: Callable[[str], str] = lambda _what: "state-matches-views") -> list[Violation]:
        results = self.caller.run()
        for index, expected, what, subject in self.expectations:
            actual = _norm(results[index])
            if actual != _norm(expected):
                self.violations.append(Violation(rule_for(what), self.block, "", 0, f"{what}: the contract holds {actual}, the events give {_norm(expected)} (storage changed without an event)", subject))
        return self.violations


def compare_with_views(contracts: ContractSet, state: AuditState, block: int) -> list[Violation]:
    """Violations for every value whose view at `block` differs from the rebuilt state."""
    cmp = _Comparison(ViewCaller(contracts.w3, block), block)
    registry, consents, records = contracts["ConsortiumRegistry"], contracts["ConsentLedger"], contracts["RecordRegistry"]
    payments, token = contracts["HealthCardPayments"], contracts["SettlementToken"]

    cmp.expect(registry, "memberCount", (), len(state.member_order), "number of members", "")
    cmp.expect(registry, "members", (0, len(state.member_order) + 1), tuple(state.member_order), "member directory order", "")
    cmp.expect(registry, "activeGovernorCount", (), state.active_governors, "active governor count", "")
    cmp.expect(registry, "proposalCount", (), max((p.id for p in state.proposals.values()), default=0), "number of proposals", "")
    for account, m in state.members.items():
        expected = (m.name, m.country.encode("ascii", "replace"), m.roles, m.hpke_public_key, m.endpoint, m.status, m.admitted_at, m.updated_at)
        cmp.expect(registry, "member", (account,), expected, f"member {m.name} ({account})", account)
    for p in state.proposals.values():
        tally = p.tally if p.executed_block else len(state.valid_approvals(p))
        expected = (p.kind, p.subject, p.proposer, p.created_at, p.expires_at, tally, 2 if p.executed_block else 1)
        cmp.expect(registry, "proposal", (p.id,), expected, f"proposal {p.id}", str(p.id))

    for c in state.consents.values():
        expected = (c.categories, c.purposes, c.status, c.valid_from, c.valid_until, c.data_from, c.data_until, c.version)
        cmp.expect(consents, "getConsent", (c.patient, c.grantee), expected, f"consent of {c.patient} to {c.grantee} (categories, purposes, status, valid, data period, version)", c.consent_id)
    for patient in state.patients.values():
        cmp.expect(consents, "patientKey", (patient.address,), patient.hpke_public_key or "0x", f"HPKE key of patient {patient.address}", patient.address)
        cmp.expect(consents, "delegateOf", (patient.address,), patient.delegate or "0x" + "00" * 20, f"delegate of patient {patient.address}", patient.address)

    for r in state.records.values():
        cmp.expect(records, "getRecord", (r.record_id,), (r.patient, r.category, r.anchored_at, r.erased, r.author), f"record {r.record_id}", r.record_id)
    # Batched markers are keyed by leaf; isErased covers records anchored on their own only.
    for leaf, (record_id, _patient, root, _block) in state.erased_batched.items():
        cmp.expect(records, "isBatchedLeafErased", (leaf,), True, f"erasure marker of batched record {record_id} (leaf {leaf}, erased in batch {root})", record_id)
    for b in state.batches.values():
        cmp.expect(records, "getBatch", (b.root,), (b.author, b.anchored_at, b.count), f"batch {b.root}", b.root)

    cmp.expect(payments, "programmeCount", (), len(state.programmes), "number of programmes", "")
    cmp.expect(payments, "cardCount", (), len(state.cards), "number of cards", "")
    cmp.expect(payments, "preAuthCount", (), len(state.pre_auths), "number of pre-authorisations", "")
    cmp.expect(payments, "claimCount", (), len(state.claims), "number of claims", "")
    for p in state.programmes.values():
        expected = (p.payer, p.currency.encode("ascii", "replace"), p.pre_auth_validity, p.created_at, p.default_annual_limit, p.auto_approval_threshold, p.escrow, p.name)
        cmp.expect(payments, "programme", (p.id,), expected, f"programme {p.id} ({p.name}) incl. escrow", str(p.id))
        for provider in p.empanelled:
            cmp.expect(payments, "isEmpanelled", (p.id, provider), True, f"empanelment of {provider} in programme {p.id}", provider)
    for c in state.cards.values():
        expected = (c.patient, c.programme_id, c.valid_until, c.status, c.annual_limit, c.used, c.reserved, c.period_start)
        cmp.expect(payments, "card", (c.id,), expected, f"card {c.id}", str(c.id))
    for a in state.pre_auths.values():
        cmp.expect(payments, "preAuth", (a.id,), (a.provider, a.card_id, a.status, a.amount, a.expires_at, a.package), f"pre-authorisation {a.id}", str(a.id))
    for cl in state.claims.values():
        expected = (cl.provider, cl.card_id, cl.status, cl.confirmed, cl.amount, cl.pre_auth_id, cl.submitted_at, cl.record_id, cl.package)
        cmp.expect(payments, "claim", (cl.id,), expected, f"claim {cl.id}", str(cl.id))
    for key, claim_id in state.evidence.items():
        record_id, package = key.split("/")
        cmp.expect(payments, "claimForEvidence", (record_id, package), claim_id, f"live claim for record {record_id}", record_id)

    escrow_total = sum(p.escrow for p in state.programmes.values())
    cmp.expect(token, "totalSupply", (), state.token_supply, "settlement token supply", "")
    cmp.expect(token, "balanceOf", (payments.address,), escrow_total, "tokens held in escrow (sum of programme escrows)", payments.address)
    violations = cmp.run(lambda what: "escrow" if what.startswith(("settlement token", "tokens held")) else "state-matches-views")
    violations += _conservation(state, block)
    return violations


def _conservation(state: AuditState, block: int) -> list[Violation]:
    """Per programme: funded - withdrawn - paid - disbursed = escrow >= 0; supply = everything ever funded."""
    found = []
    for p in state.programmes.values():
        flows = p.funded - p.withdrawn - p.paid - p.disbursed
        if flows != p.escrow or p.escrow < 0:
            found.append(Violation("escrow", block, "", 0, f"programme {p.id}: funded {p.funded} - withdrawn {p.withdrawn} - paid {p.paid} - disbursed {p.disbursed} = {flows}, escrow {p.escrow}", str(p.id)))
    funded = sum(p.funded for p in state.programmes.values())
    if funded != state.token_supply:
        found.append(Violation("escrow", block, "", 0, f"token supply {state.token_supply} differs from everything ever funded ({funded}): tokens were minted outside EscrowFunded", ""))
    return found
