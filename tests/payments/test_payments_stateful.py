"""Random sequences of payer / provider / patient actions against the real contracts (hypothesis stateful testing).

Every example runs inside its own operator snapshot (reverted in teardown) with fresh senders. After every step:
- escrow is conserved: funded - withdrawn - paid - disbursed == escrowBalance == the contract's token balance;
- no card is over-committed: used + reserved <= annualLimit, and both match a model kept from the receipts;
- no claim is paid twice: at most one ClaimPaid per claim id, and only for claims that were Submitted.
Refusals are allowed only with the custom errors listed for each action (anything else, e.g. a Panic, fails).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from ledger.chain import Ledger
from ledger.errors import ContractRevert
from ledger.payments import HealthCardPayments
from tests.conftest import RunningNetwork
from tests.payments.conftest import DAY, PaymentsWorld, Actors, chain_now, warp
from tests.support.chain_clock import take_snapshot, revert_snapshot

PACKAGES = ("ECG", "LAB")
ELIGIBILITY_ERRORS = {"InvalidCardStatus", "CardExpired"}


@dataclass
class ModelPreAuth:
    card: int
    package: str
    amount: int
    status: str


@dataclass
class ModelClaim:
    card: int
    amount: int
    status: str
    confirmed: bool = False


class PaymentsMachine(RuleBasedStateMachine):
    world: ClassVar[PaymentsWorld]
    outcomes: ClassVar[Counter[str]] = Counter()  # what the examples did, across the run (shown with pytest -s)

    def __init__(self) -> None:
        super().__init__()
        w = self.world
        self.network: RunningNetwork = w.network
        self.snapshot = take_snapshot(self.network.operator_w3)
        self.actors = Actors.of(w)
        self.pay = self.actors.payments
        # Invariant reads go to the operator's private port: same chain, no gateway hop (steps still use the gateway).
        self.reader = HealthCardPayments(Ledger.open(self.network.settings.anvil_url, self.network.settings.deployments_file))
        self.start_block = self.reader.ledger.w3.eth.block_number + 1
        self.escrow_model = self.reader.escrow_balance(w.programme_id)
        self.funded = self.withdrawn = self.paid = self.disbursed = 0
        self.records = {w.card_a: w.records_a, w.card_b: w.records_b}
        self.patient = {w.card_a: w.patient_a, w.card_b: w.patient_b}
        self.used = {card: 0 for card in self.records}
        self.pre_auths: dict[int, ModelPreAuth] = {}
        self.claims: dict[int, ModelClaim] = {}

    def teardown(self) -> None:
        revert_snapshot(self.network.operator_w3, self.snapshot)

    # --- helpers -------------------------------------------------------------------------------------
    def attempt(self, allowed: set[str], call: Any, *args: Any) -> Any:
        """Run an action; a refusal must be one of `allowed` (returned as the error) and change nothing."""
        name = getattr(call, "__name__", str(call))
        try:
            result = call(*args)
        except ContractRevert as exc:
            assert exc.name in allowed, f"unexpected refusal {exc} from {name}{args}"
            self.outcomes[f"{name}: {exc.name}"] += 1
            return exc
        self.outcomes[f"{name}: ok"] += 1
        return result

    @staticmethod
    def pick(ids: list[int], index: int) -> int | None:
        """Newest first: hypothesis favours small indices, and the newest item is the one most likely still open."""
        return ids[-1 - index % len(ids)] if ids else None

    # --- the patient starts each example with one treatment claimed (so claim flows are reached early) ---
    @initialize(amount=st.integers(1, 150_000), with_pre_auth=st.booleans(), confirmed=st.booleans())
    def first_claim(self, amount: int, with_pre_auth: bool, confirmed: bool) -> None:
        if with_pre_auth:
            self.request_pre_auth("a", "ECG", amount)
        self.submit_claim("a", 0, "ECG", amount, with_pre_auth)
        if confirmed:
            self.confirm(0, False)

    # --- payer: escrow and cards ---------------------------------------------------------------------
    @rule(fund=st.booleans(), amount=st.integers(1, 2_500_000))
    def move_escrow(self, fund: bool, amount: int) -> None:
        if fund:
            self.pay.fund_escrow(self.actors.payer, self.world.programme_id, amount)
            self.funded += amount
            return
        result = self.attempt({"InsufficientEscrow"}, self.pay.withdraw_escrow, self.actors.payer, self.world.programme_id, amount)
        if not isinstance(result, ContractRevert):
            self.withdrawn += amount

    @rule(card=st.sampled_from(["a", "b"]), action=st.sampled_from(["suspend", "reactivate", "renew"]), extra=st.integers(0, 400_000), validity=st.integers(DAY, 30 * DAY))
    def manage_card(self, card: str, action: str, extra: int, validity: int) -> None:
        card_id = self.world.card_a if card == "a" else self.world.card_b
        if action != "renew":
            call = self.pay.suspend_card if action == "suspend" else self.pay.reactivate_card
            self.attempt({"InvalidCardStatus"}, call, self.actors.payer, card_id)
            return
        # Never below the outstanding reservations (lowering below them is a deliberate payer act, tested apart).
        reserved = self.reader.card(card_id).reserved  # type: ignore[union-attr]
        self.pay.renew_card(self.actors.payer, card_id, chain_now(self.reader.ledger) + validity, annual_limit=max(1, reserved + extra))
        self.used[card_id] = 0

    @rule(card=st.sampled_from(["a", "b"]), amount=st.integers(1, 200_000))
    def disburse(self, card: str, amount: int) -> None:
        card_id = self.world.card_a if card == "a" else self.world.card_b
        result = self.attempt({"LimitExceeded", "InsufficientEscrow"} | ELIGIBILITY_ERRORS, self.pay.disburse_cash, self.actors.payer, card_id, "TRAVEL", amount)
        if not isinstance(result, ContractRevert):
            self.disbursed += amount
            self.used[card_id] += amount

    # --- pre-authorisation ---------------------------------------------------------------------------
    @rule(card=st.sampled_from(["a", "b"]), package=st.sampled_from(PACKAGES), amount=st.integers(1, 400_000))
    def request_pre_auth(self, card: str, package: str, amount: int) -> None:
        card_id = self.world.card_a if card == "a" else self.world.card_b
        result = self.attempt({"LimitExceeded"} | ELIGIBILITY_ERRORS, self.pay.request_pre_auth, self.actors.provider, card_id, package, amount)
        if not isinstance(result, ContractRevert):
            assert result.auto_approved == (amount < 200_000)
            self.pre_auths[result.pre_auth_id] = ModelPreAuth(card_id, package, amount, "APPROVED" if result.auto_approved else "REQUESTED")

    @precondition(lambda self: bool(self.pre_auths))
    @rule(index=st.integers(0, 50), action=st.sampled_from(["approve", "reject", "cancel-by-provider", "cancel-by-payer"]), validity=st.integers(3600, 5 * DAY))
    def settle_pre_auth(self, index: int, action: str, validity: int) -> None:
        pre_auth_id = self.pick(sorted(self.pre_auths), index)
        assert pre_auth_id is not None
        model = self.pre_auths[pre_auth_id]
        if action == "approve":
            allowed = {"InvalidPreAuthStatus", "LimitExceeded"} | ELIGIBILITY_ERRORS
            result = self.attempt(allowed, self.pay.approve_pre_auth, self.actors.payer, pre_auth_id, chain_now(self.reader.ledger) + validity)
        elif action == "reject":
            result = self.attempt({"InvalidPreAuthStatus"}, self.pay.reject_pre_auth, self.actors.payer, pre_auth_id, 1)
        else:
            actor = self.actors.provider if action == "cancel-by-provider" else self.actors.payer
            result = self.attempt({"InvalidPreAuthStatus"}, self.pay.cancel_pre_auth, actor, pre_auth_id)
        if isinstance(result, ContractRevert):
            if result.name == "InvalidPreAuthStatus":
                assert model.status not in (("REQUESTED", "APPROVED") if action.startswith("cancel") else ("REQUESTED",))
            return
        if action.startswith("cancel"):
            assert model.status in ("REQUESTED", "APPROVED")
            model.status = "CANCELLED"
        else:
            assert model.status == "REQUESTED"
            model.status = "APPROVED" if action == "approve" else "REJECTED"

    @rule(seconds=st.integers(3600, 4 * DAY), index=st.integers(0, 50))
    def time_passes(self, seconds: int, index: int) -> None:
        """Time moves on; then any member may release one (maybe) expired approval."""
        warp(self.network, seconds)
        pre_auth_id = self.pick(sorted(self.pre_auths), index)
        if pre_auth_id is None:
            return
        result = self.attempt({"InvalidPreAuthStatus", "PreAuthNotExpired"}, self.pay.release_expired_pre_auth, self.actors.governor, pre_auth_id)
        if not isinstance(result, ContractRevert):
            assert self.pre_auths[pre_auth_id].status == "APPROVED"
            self.pre_auths[pre_auth_id].status = "EXPIRED"

    # --- claims --------------------------------------------------------------------------------------
    @rule(card=st.sampled_from(["a", "b"]), record=st.integers(0, 9), package=st.sampled_from(PACKAGES), amount=st.integers(1, 300_000), use_pre_auth=st.booleans())
    def submit_claim(self, card: str, record: int, package: str, amount: int, use_pre_auth: bool) -> None:
        card_id = self.world.card_a if card == "a" else self.world.card_b
        record_id = self.records[card_id][record % len(self.records[card_id])]
        candidates = [i for i, p in sorted(self.pre_auths.items()) if p.card == card_id and p.package == package and p.status == "APPROVED"]
        pre_auth_id = candidates[0] if use_pre_auth and candidates else 0
        allowed = {"EvidenceAlreadyClaimed", "LimitExceeded", "PreAuthExpired", "ClaimExceedsPreAuth"} | ELIGIBILITY_ERRORS
        result = self.attempt(allowed, self.pay.submit_claim, self.actors.provider, card_id, record_id, package, amount, pre_auth_id)
        if not isinstance(result, ContractRevert):
            self.claims[result] = ModelClaim(card_id, amount, "SUBMITTED")
            if pre_auth_id:
                self.pre_auths[pre_auth_id].status = "USED"

    @precondition(lambda self: bool(self.claims))
    @rule(index=st.integers(0, 50), by_delegate=st.booleans())
    def confirm(self, index: int, by_delegate: bool) -> None:
        claim_id = self.pick(sorted(self.claims), index)
        assert claim_id is not None
        model = self.claims[claim_id]
        signer = self.world.delegate_a if by_delegate and model.card == self.world.card_a else self.patient[model.card]
        message = self.pay.confirmation_message(claim_id, chain_now(self.reader.ledger) + 3600, signer=signer.address)
        result = self.attempt({"InvalidClaimStatus", "ClaimAlreadyConfirmed"}, self.pay.relay_confirmation, self.actors.governor, message, message.sign(signer))
        if isinstance(result, ContractRevert):
            assert model.status != "SUBMITTED" or model.confirmed
        else:
            assert model.status == "SUBMITTED" and not model.confirmed
            model.confirmed = True

    @precondition(lambda self: bool(self.claims))
    @rule(index=st.integers(0, 50))
    def reject_claim(self, index: int) -> None:
        claim_id = self.pick(sorted(self.claims), index)
        assert claim_id is not None
        result = self.attempt({"InvalidClaimStatus"}, self.pay.reject_claim, self.actors.payer, claim_id, 1)
        if not isinstance(result, ContractRevert):
            assert self.claims[claim_id].status == "SUBMITTED"
            self.claims[claim_id].status = "REJECTED"

    @precondition(lambda self: bool(self.claims))
    @rule(index=st.integers(0, 50), override=st.booleans())
    def approve_claim(self, index: int, override: bool) -> None:
        claim_id = self.pick(sorted(self.claims), index)
        assert claim_id is not None
        model = self.claims[claim_id]
        result = self.attempt({"InvalidClaimStatus", "ClaimNotConfirmed", "InsufficientEscrow"}, self.pay.approve_claim, self.actors.payer, claim_id, override)
        if isinstance(result, ContractRevert):
            if model.status != "SUBMITTED":
                assert result.name == "InvalidClaimStatus"  # a paid (or rejected) claim is never paid (again)
            return
        assert model.status == "SUBMITTED" and (model.confirmed or override)
        assert result.confirmation_overridden == (not model.confirmed)
        model.status = "PAID"
        self.paid += model.amount
        self.used[model.card] += model.amount

    # --- invariants ----------------------------------------------------------------------------------
    @invariant()
    def escrow_is_conserved(self) -> None:
        escrow = self.reader.escrow_balance(self.world.programme_id)
        assert escrow == self.escrow_model + self.funded - self.withdrawn - self.paid - self.disbursed
        assert escrow == self.reader.token_balance(self.reader.contract.address)

    @invariant()
    def cards_stay_within_limits(self) -> None:
        for card_id in self.records:
            card = self.reader.card(card_id)
            assert card is not None
            assert card.used + card.reserved <= card.annual_limit, card
            assert card.used == self.used[card_id]
            reserved = sum(p.amount for p in self.pre_auths.values() if p.card == card_id and p.status == "APPROVED")
            reserved += sum(c.amount for c in self.claims.values() if c.card == card_id and c.status == "SUBMITTED")
            assert card.reserved == reserved, (card, reserved)

    @invariant()
    def no_claim_is_paid_twice(self) -> None:
        head = self.reader.ledger.w3.eth.block_number
        logs = self.reader.contract.events.ClaimPaid().get_logs(from_block=self.start_block, to_block=head) if head >= self.start_block else []
        counts = Counter(log["args"]["claimId"] for log in logs)
        assert all(n == 1 for n in counts.values()), counts
        assert set(counts) == {i for i, c in self.claims.items() if c.status == "PAID"}


def test_random_payment_sequences_keep_the_invariants(world: PaymentsWorld) -> None:
    PaymentsMachine.world = world
    run_state_machine_as_test(
        PaymentsMachine,
        settings=settings(max_examples=10, stateful_step_count=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]),
    )
    print("\nstateful outcomes:", ", ".join(f"{k} x{v}" for k, v in sorted(PaymentsMachine.outcomes.items())))
