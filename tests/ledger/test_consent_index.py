"""The local consent index against the real chain: same answers as isPermitted, fresh, restartable, revert-proof."""

from __future__ import annotations

import json
import time
from itertools import product
from pathlib import Path

import httpx
import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.consent_index import ConsentIndex
from ledger.errors import ContractRevert, TransactionFailed
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.chain_clock import take_snapshot, revert_snapshot

IS_PERMITTED = keccak(text="isPermitted(address,address,uint16,uint8)")[:4]
RPC_BATCH = 100
CATEGORY_MASKS = (0, 1, 4, 5, 0x7F, 0x80, 0x8004, 0xFFFF)
PURPOSE_MASKS = (0, 1, 2, 3, 16, 31)


class Scenario:
    """A consortium with two admitted providers, a few patients, and the actions the property test mixes."""

    def __init__(self, network: RunningNetwork) -> None:
        self.network = network
        self.ledger = network.ledger()
        self.consents = ConsentLedger(self.ledger)
        self.registry = ConsortiumRegistry(self.ledger)
        self.governors = [self.ledger.sender(account) for account in network.governors]
        self.providers = [throwaway_account(f"index-provider-{index}") for index in range(2)]
        for index, provider in enumerate(self.providers):
            application = MemberApplication(address=provider.address, name=f"Provider {index}", country="BJ", roles=["PROVIDER"], hpke_public_key=b"\x01" * 33)
            self.registry.approve(self.governors[1], self.registry.propose_admission(self.governors[0], application))
        # Grantee pool: two providers (suspendable), a governor (always active), and a non-member.
        self.grantees = [p.address for p in self.providers] + [network.governors[2].address, throwaway_account("index-non-member").address]
        self.patients: list[LocalAccount] = [throwaway_account(f"index-patient-{index}") for index in range(3)]
        self.bystander = throwaway_account("index-patient-without-consents")

    def forget_nonces(self) -> None:
        """New senders after an operator revert: the old ones cached nonces of transactions that no longer exist."""
        self.governors = [self.ledger.sender(account) for account in self.network.governors]

    def head_timestamp(self) -> int:
        return int(self.ledger.w3.eth.get_block("latest")["timestamp"])

    def grant(self, patient: LocalAccount, grantee: str, categories: int, purposes: int, valid_from: int, valid_until: int) -> bool:
        # model_construct: the steps also try terms the wrapper would refuse, to see the contract refuse them too.
        terms = ConsentTerms.model_construct(grantee=grantee, categories=categories, purposes=purposes, valid_from=valid_from, valid_until=valid_until, data_from=0, data_until=0)
        message = self.consents.grant_message(patient.address, terms, deadline=self.head_timestamp() + 86_400)
        return self._relay(message, patient)

    def revoke(self, patient: LocalAccount, grantee: str) -> bool:
        return self._relay(self.consents.revoke_message(patient.address, grantee, deadline=self.head_timestamp() + 86_400), patient)

    def suspend(self, account: str) -> bool:
        try:
            self.registry.approve(self.governors[1], self.registry.propose_suspension(self.governors[0], account, "index test"))
        except ContractRevert:
            return False
        return True

    def reinstate(self, account: str) -> bool:
        try:
            self.registry.approve(self.governors[1], self.registry.propose_reinstatement(self.governors[0], account))
        except ContractRevert:
            return False
        return True

    def advance(self, seconds: int) -> None:
        operator = self.network.operator_w3
        operator.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        operator.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def queries(self) -> list[tuple[str, str, int, int]]:
        patients = [p.address for p in self.patients] + [self.bystander.address]
        return list(product(patients, self.grantees, CATEGORY_MASKS, PURPOSE_MASKS))

    def _relay(self, message: object, signer: LocalAccount) -> bool:
        try:
            self.consents.relay(self.governors[0], message, message.sign(signer))  # type: ignore[attr-defined]
        except (ContractRevert, TransactionFailed):
            # The chain refused (grant to a suspended member, a period already over) — possibly only when mined,
            # after gas estimation passed, because a 2-second window closed in between.
            return False
        return True


def chain_permits(network: RunningNetwork, ledger: Ledger, queries: list[tuple[str, str, int, int]], block: int) -> list[bool]:
    """isPermitted for every query at `block`: eth_call in JSON-RPC batches, straight to the node.

    This is the oracle, not the system under test (the index reads through the gateway), so it skips the
    gateway's per-call policy work and asks the node on the operator's port: ~10x faster on a busy machine.
    """
    target = ledger.deployments.address_of("ConsentLedger")
    answers: list[bool] = []
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(queries), RPC_BATCH):
            chunk = queries[start : start + RPC_BATCH]
            body = [
                {"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": [{"to": target, "data": "0x" + (IS_PERMITTED + encode(["address", "address", "uint16", "uint8"], list(q))).hex()}, hex(block)]}
                for i, q in enumerate(chunk)
            ]
            replies = sorted(client.post(network.settings.anvil_url, json=body).json(), key=lambda reply: reply["id"])
            answers += [decode(["bool"], bytes.fromhex(reply["result"][2:]))[0] for reply in replies]
    return answers


def assert_index_matches_chain(network: RunningNetwork, scenario: Scenario, index: ConsentIndex) -> set[str]:
    """Sync, decide every query locally and by eth_call at the same block; the reasons seen."""
    index.sync()
    queries = scenario.queries()
    decisions = [index.decide(*query) for query in queries]
    block = decisions[0].as_of_block
    assert all(decision.as_of_block == block for decision in decisions)
    expected = chain_permits(network, scenario.ledger, queries, block)
    mismatches = [(query, decision) for query, decision, permitted in zip(queries, decisions, expected, strict=True) if decision.permitted != permitted]
    assert not mismatches, mismatches[:5]
    return {decision.reason for decision in decisions}


GRANT = st.tuples(
    st.just("grant"),
    st.integers(0, 2),
    st.integers(0, 3),
    st.sampled_from([1, 4, 5, 0x7F, 0x8004]),
    st.integers(1, 31),
    st.sampled_from([-3600, -1, 1, 2]),  # validFrom relative to the head block's timestamp
    st.sampled_from([2, 3, 60, 3600]),  # validUntil relative to it: 2-3 s windows expire within a block or two
)
ACTION = st.one_of(
    GRANT,
    GRANT,
    st.tuples(st.just("revoke"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("suspend"), st.integers(0, 1)),
    st.tuples(st.just("reinstate"), st.integers(0, 1)),
    st.tuples(st.just("advance"), st.sampled_from([1, 2, 30, 4000])),
)


# A fixed tail after the random run, so every refusal reason is met at least once whatever hypothesis drew.
SCRIPT: list[tuple[object, ...]] = [
    ("reinstate", 0),
    ("reinstate", 1),
    ("grant", 0, 0, 5, 3, -3600, 3600),
    ("grant", 2, 0, 1, 1, -3600, 3600),
    ("revoke", 2, 0),
    ("grant", 1, 2, 1, 1, 1000, 5000),
    ("grant", 1, 1, 0x7F, 31, -3600, 3600),
    ("suspend", 1),
    ("grant", 0, 2, 4, 1, -3600, 30),
    ("advance", 60),
]


def apply(scenario: Scenario, action: tuple[object, ...]) -> None:
    kind = action[0]
    if kind == "grant":
        _, patient, grantee, categories, purposes, from_offset, until_offset = action
        now = scenario.head_timestamp()
        scenario.grant(scenario.patients[patient], scenario.grantees[grantee], categories, purposes, max(0, now + from_offset), now + until_offset)  # type: ignore[arg-type,index,operator]
    elif kind == "revoke":
        scenario.revoke(scenario.patients[action[1]], scenario.grantees[action[2]])  # type: ignore[index]
    elif kind == "suspend":
        scenario.suspend(scenario.grantees[action[1]])  # type: ignore[index]
    elif kind == "reinstate":
        scenario.reinstate(scenario.grantees[action[1]])  # type: ignore[index]
    else:
        scenario.advance(action[1])  # type: ignore[arg-type]


def test_index_decides_exactly_like_the_contract(chain: RunningNetwork) -> None:
    scenario = Scenario(chain)
    index = ConsentIndex.open(scenario.ledger, max_block_range=4)  # small chunks: exercise chunked syncs too
    reasons = assert_index_matches_chain(chain, scenario, index)

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(ACTION, min_size=1, max_size=4))
    def steps(actions: list[tuple[object, ...]]) -> None:
        for action in actions:
            apply(scenario, action)
            reasons.update(assert_index_matches_chain(chain, scenario, index))

    steps()
    for action in SCRIPT:
        apply(scenario, action)
        reasons.update(assert_index_matches_chain(chain, scenario, index))
    every_reason = {"permitted", "no consent", "consent revoked", "consent not yet valid", "consent expired", "category not covered", "purpose not covered", "grantee is not an active member"}
    assert reasons == every_reason


def test_revocation_is_visible_from_the_next_decision(chain: RunningNetwork) -> None:
    scenario = Scenario(chain)
    patient, grantee = scenario.patients[0], scenario.grantees[0]
    now = scenario.head_timestamp()
    assert scenario.grant(patient, grantee, Category.ECG.bit, int(Purpose.TREATMENT), now - 60, now + 3600)
    strict = ConsentIndex.open(scenario.ledger)
    followed = ConsentIndex.open(scenario.ledger)
    followed.start_following(interval=0.05)
    try:
        assert strict.decide(patient.address, grantee, Category.ECG.bit, int(Purpose.TREATMENT)).permitted
        assert scenario.revoke(patient, grantee)
        revoked_in = scenario.ledger.w3.eth.block_number

        # Asking the node for its head first: the revocation block is already honoured.
        decision = strict.decide(patient.address, grantee, Category.ECG.bit, int(Purpose.TREATMENT), max_staleness_blocks=0)
        assert not decision.permitted and decision.reason == "consent revoked" and decision.as_of_block >= revoked_in

        # With the follower: once it has observed the block, no decision may predate it.
        deadline = time.monotonic() + 10
        while followed.observed_block < revoked_in and time.monotonic() < deadline:
            answer = followed.decide(patient.address, grantee, Category.ECG.bit, int(Purpose.TREATMENT))
            assert answer.permitted == (answer.as_of_block < revoked_in)
            time.sleep(0.01)
        answer = followed.decide(patient.address, grantee, Category.ECG.bit, int(Purpose.TREATMENT))
        assert not answer.permitted and answer.as_of_block >= revoked_in
        assert followed.follower_error is None
    finally:
        followed.stop_following()


def test_suspension_refuses_and_reinstatement_restores(chain: RunningNetwork) -> None:
    scenario = Scenario(chain)
    patient, provider = scenario.patients[1], scenario.grantees[1]
    now = scenario.head_timestamp()
    assert scenario.grant(patient, provider, Category.LAB.bit | Category.ECG.bit, int(Purpose.TREATMENT | Purpose.PAYMENT), now - 60, now + 3600)
    index = ConsentIndex.open(scenario.ledger)
    assert scenario.suspend(provider)
    decision = index.decide(patient.address, provider, Category.LAB.bit, int(Purpose.PAYMENT), max_staleness_blocks=0)
    assert not decision.permitted and decision.reason == "grantee is not an active member" and decision.consent_id is not None
    assert scenario.reinstate(provider)
    assert index.decide(patient.address, provider, Category.LAB.bit, int(Purpose.PAYMENT), max_staleness_blocks=0).permitted
    assert decision.consent_id == scenario.consents.contract.functions.currentConsentId(patient.address, provider).call()


def test_restart_from_checkpoint_equals_full_rebuild(chain: RunningNetwork, tmp_path: Path) -> None:
    scenario = Scenario(chain)
    now = scenario.head_timestamp()
    for patient in scenario.patients:
        assert scenario.grant(patient, scenario.grantees[0], Category.ECG.bit, int(Purpose.TREATMENT), now - 60, now + 3600)
    checkpoint = tmp_path / "index.json"
    first = ConsentIndex.open(scenario.ledger, checkpoint_path=checkpoint)
    first.save_checkpoint()
    checkpointed_at = first.synced_block

    # The chain moves on while the index is down.
    assert scenario.revoke(scenario.patients[0], scenario.grantees[0])
    assert scenario.grant(scenario.patients[1], scenario.grantees[2], Category.LAB.bit, int(Purpose.RESEARCH), now - 60, now + 7200)
    assert scenario.suspend(scenario.grantees[0])

    resumed = ConsentIndex.open(scenario.ledger, checkpoint_path=checkpoint)
    assert resumed.load_note == f"resumed from checkpoint at block {checkpointed_at}" and resumed.rebuilds == 0
    rebuilt = ConsentIndex.open(scenario.ledger)
    assert resumed.export() == rebuilt.export()
    assert resumed.synced_block > checkpointed_at
    assert_index_matches_chain(chain, scenario, resumed)


def test_stale_checkpoint_after_a_revert_is_detected(chain: RunningNetwork, tmp_path: Path) -> None:
    scenario = Scenario(chain)
    operator = chain.operator_w3
    first, second = scenario.patients[0], scenario.patients[1]
    grantee = scenario.grantees[2]
    now = scenario.head_timestamp()
    snapshot = take_snapshot(operator)
    assert scenario.grant(first, grantee, Category.ECG.bit, int(Purpose.TREATMENT), now - 60, now + 3600)
    live = ConsentIndex.open(scenario.ledger)
    checkpoint = live.save_checkpoint(tmp_path / "index.json")
    assert live.decide(first.address, grantee, Category.ECG.bit, int(Purpose.TREATMENT)).permitted

    # The operator reverts the grant's block; another grant takes that height, so the old block is gone.
    revert_snapshot(operator, snapshot, mine=False)
    scenario.forget_nonces()
    assert scenario.grant(second, grantee, Category.ECG.bit, int(Purpose.TREATMENT), now - 60, now + 3600)
    assert scenario.ledger.w3.eth.block_number == live.synced_block

    resumed = ConsentIndex.open(scenario.ledger, checkpoint_path=checkpoint)
    assert "no longer canonical" in resumed.load_note and resumed.rebuilds == 1
    assert not resumed.decide(first.address, grantee, Category.ECG.bit, int(Purpose.TREATMENT)).permitted
    assert resumed.decide(second.address, grantee, Category.ECG.bit, int(Purpose.TREATMENT)).permitted

    # The running index notices the replaced block on its next sync and rebuilds.
    result = live.sync()
    assert result.rebuilt and live.rebuilds == 1
    assert live.export() == resumed.export()
    assert_index_matches_chain(chain, scenario, live)


def test_unusable_checkpoints_are_rebuilt_not_trusted(local_network: RunningNetwork, tmp_path: Path) -> None:
    ledger = local_network.ledger()
    reference = ConsentIndex.open(ledger).export()
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{not json")
    index = ConsentIndex.open(ledger, checkpoint_path=corrupt)
    assert index.load_note.startswith("rebuilt: checkpoint") and index.export() == reference

    foreign = tmp_path / "foreign.json"
    body = dict(reference, consent_ledger="0x" + "11" * 20)
    foreign.write_text(json.dumps(body))
    index = ConsentIndex.open(ledger, checkpoint_path=foreign)
    assert "unusable" in index.load_note and index.export() == reference


def test_bad_queries_are_refused(local_network: RunningNetwork) -> None:
    index = ConsentIndex.open(local_network.ledger())
    patient, grantee = Account.create().address, local_network.governors[0].address
    for bad in ("0x1234", "not an address", "0x" + "zz" * 20):
        with pytest.raises(ValueError, match="address"):
            index.decide(bad, grantee, 1, 1)
    with pytest.raises(ValueError, match="uint16"):
        index.decide(patient, grantee, 0x10000, 1)
    with pytest.raises(ValueError, match="uint8"):
        index.decide(patient, grantee, 1, 256)
    with pytest.raises(ValueError, match="max_staleness_blocks"):
        index.decide(patient, grantee, 1, 1, max_staleness_blocks=-1)
    assert index.decide(patient.lower(), grantee.upper().replace("0X", "0x"), 1, 1).reason == "no consent"
