"""ConsortiumRegistry through the permissioning gateway: genesis, k-of-n votes, validation, suspension,
role changes, key rotation, expiry, lapsed votes (suspended / demoted governors), pagination, the Python
wrapper's validation and reads, and the directory rebuilt from events alone.

Pure validation properties use eth_call (`.call()`), so hypothesis needs no transaction per example;
everything that changes state takes the `chain` fixture (snapshot/revert around the test).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain import Ledger
from ledger.compile import load_artifact
from ledger.errors import ContractRevert, TransactionFailed
from ledger.registry import ConsortiumRegistry, Member, MemberApplication, ProposalPayload
from ledger.roles import Role, role_names
from ledger.transactions import TransactionSender
from network.sandbox import GOVERNORS as GOVERNOR_COUNTRIES
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.rpc import rpc, signed_transfer

QUORUM = 2
LIFETIME = 86400
DEFAULT_ADMIN_ROLE = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20
MAX_UINT256 = 2**256 - 1
NONE, ACTIVE, SUSPENDED = 0, 1, 2
ADMIT, SUSPEND, REINSTATE, CHANGE_ROLES, ROTATE_KEYS = range(5)
FAST = settings(max_examples=25, deadline=None)

# Deterministic accounts: usable in parametrize ids, and the same as the session's genesis governors.
GOVERNOR_ADDRESSES = [throwaway_account(f"governor-{index}").address for index in range(3)]
OUTSIDER = throwaway_account("registry/outsider")
CLINIC = throwaway_account("registry/clinic")
INSURER = throwaway_account("registry/insurer")

VALID_INPUT: dict[str, Any] = {
    "account": CLINIC.address,
    "name": "Lokossa Zone Hospital",
    "country": b"BJ",
    "roles": int(Role.PROVIDER),
    "key": b"\x02" * 32,
    "endpoint": "https://lokossa.example/api",
}


def clinic_application(**overrides: Any) -> MemberApplication:
    """The wrapper's application for the valid clinic, with some fields replaced."""
    fields = {"address": CLINIC.address, "name": "Clinic", "country": "BJ", "roles": ["PROVIDER"], "hpke_public_key": b"k"} | overrides
    return MemberApplication(**fields)


def member_input(**overrides: Any) -> tuple[str, str, bytes, int, bytes, str]:
    """A MemberInput tuple for proposeAdmission: the valid clinic with some fields replaced."""
    fields = VALID_INPUT | overrides
    return (fields["account"], fields["name"], fields["country"], fields["roles"], fields["key"], fields["endpoint"])


@contextmanager
def reverts(error: str, **expected: Any) -> Iterator[None]:
    """Expect the contract's custom `error` with the given argument values (addresses compared case-blind)."""
    with pytest.raises(ContractRevert) as info:
        yield
    assert info.value.name == error, str(info.value)
    for key, value in expected.items():
        actual = info.value.args_by_name[key]
        if isinstance(value, str):
            assert str(actual).lower() == value.lower(), str(info.value)
        else:
            assert actual == value, str(info.value)


@dataclass
class Consortium:
    """The registry as clients see it (through the gateway), with the genesis governors' senders."""

    net: RunningNetwork
    ledger: Ledger
    registry: ConsortiumRegistry
    governors: list[TransactionSender]

    @classmethod
    def open(cls, net: RunningNetwork) -> "Consortium":
        ledger = net.ledger()
        return cls(net, ledger, ConsortiumRegistry(ledger), [ledger.sender(account) for account in net.governors])

    @property
    def fns(self) -> Any:
        return self.registry.contract.functions

    @property
    def events(self) -> Any:
        return self.registry.contract.events

    def sender(self, account: LocalAccount) -> TransactionSender:
        return self.ledger.sender(account)

    def addresses(self) -> list[str]:
        return list(self.fns.members(0, MAX_UINT256).call())

    def passed(self, propose: Callable[[TransactionSender], int]) -> int:
        """Governor 0 proposes, governor 1 approves; asserts the second vote executed it."""
        proposal_id = propose(self.governors[0])
        assert self.registry.approve(self.governors[1], proposal_id)
        return proposal_id

    def admit(self, account: LocalAccount, roles: Role = Role.PROVIDER, name: str | None = None, country: str = "BJ") -> int:
        application = MemberApplication(
            address=account.address, name=name or f"Member {account.address[:8]}", country=country,
            roles=role_names(int(roles)), hpke_public_key=keccak(text=account.address), endpoint=f"https://{account.address[2:10].lower()}.example",
        )
        return self.passed(lambda governor: self.registry.propose_admission(governor, application))

    def suspend(self, address: str, reason: str = "licence lapsed") -> int:
        return self.passed(lambda governor: self.registry.propose_suspension(governor, address, reason))

    def reinstate(self, address: str) -> int:
        return self.passed(lambda governor: self.registry.propose_reinstatement(governor, address))

    def state(self) -> dict[str, Any]:
        """Everything a refused action must leave untouched (two batched round trips, to stay fast)."""
        f, w3 = self.fns, self.ledger.w3
        with w3.batch_requests() as batch:
            batch.add(w3.eth.get_block("latest"))
            batch.add(f.members(0, MAX_UINT256))
            batch.add(f.proposalCount())
            batch.add(f.activeGovernorCount())
            for governor in self.governors:
                batch.add(w3.eth.get_transaction_count(governor.address))
            head, addresses, proposal_count, active_governors, *nonces = batch.execute()
        proposal_ids = range(1, proposal_count + 1)
        with w3.batch_requests() as batch:
            for address in addresses:
                batch.add(f.member(address))
                for role in Role:
                    batch.add(f.hasRole(role.role_id, address))
            for proposal_id in proposal_ids:
                batch.add(f.proposal(proposal_id))
                for governor in self.governors:
                    batch.add(f.hasApproved(proposal_id, governor.address))
            details = batch.execute()
        return {
            "head": (head["number"], head["hash"]), "members": addresses, "details": details,
            "proposals": proposal_count, "governors": active_governors, "nonces": nonces,
        }


@pytest.fixture
def consortium(chain: RunningNetwork) -> Consortium:
    return Consortium.open(chain)


@pytest.fixture(scope="module")
def reader(local_network: RunningNetwork) -> Consortium:
    """For read-only tests and hypothesis properties (eth_call only; never changes state)."""
    return Consortium.open(local_network)


def send_without_estimate(c: Consortium, account: LocalAccount, function: ContractFunction) -> HexBytes:
    """Mine a call even though it reverts (no gas estimation), to observe what a reverted vote leaves."""
    w3 = c.ledger.w3
    tx = {
        "to": function.address, "data": function._encode_transaction_data(), "value": 0, "gas": 1_000_000,
        "nonce": w3.eth.get_transaction_count(account.address), "chainId": w3.eth.chain_id,
        "maxFeePerGas": 100 * 10**9, "maxPriorityFeePerGas": 10**9,
    }
    return w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)


def events_of(c: Consortium, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
    return [dict(event["args"]) for event in getattr(c.events, name)().process_receipt(receipt, errors=DISCARD) if event["address"] == c.registry.contract.address]


# --------------------------------------------------------------------------------------------------
# Genesis
# --------------------------------------------------------------------------------------------------


def test_genesis_has_three_active_governors_quorum_two_and_one_day_lifetime(reader: Consortium) -> None:
    f = reader.fns
    assert reader.addresses() == GOVERNOR_ADDRESSES == [g.address for g in reader.net.governors]
    assert f.memberCount().call() == 3
    assert (f.quorum().call(), reader.registry.quorum(), f.activeGovernorCount().call()) == (QUORUM, QUORUM, 3)
    assert f.proposalLifetime().call() == LIFETIME
    assert f.proposalCount().call() == 0
    for address, (name, country) in zip(GOVERNOR_ADDRESSES, GOVERNOR_COUNTRIES, strict=True):
        member = reader.registry.member(address)
        assert member is not None
        assert (member.name, member.country, member.roles, member.status, member.endpoint) == (name, country, ["GOVERNOR"], "ACTIVE", "")
        assert len(member.hpke_public_key) > 2 and member.admitted_at == member.updated_at > 0
        assert f.hasActiveRole(Role.GOVERNOR.role_id, address).call() and f.isActiveMember(address).call()
        assert not any(f.hasRole(role.role_id, address).call() for role in Role if role is not Role.GOVERNOR)
        assert f.transactionAllowed(address, ZERO_ADDRESS, 0, 0, 0, b"").call()


def test_genesis_events_carry_proposal_id_zero(reader: Consortium) -> None:
    deployed = reader.ledger.deployments.contracts["ConsortiumRegistry"]
    admitted = reader.events.MemberAdmitted().get_logs(from_block=0)
    assert [log["args"]["account"] for log in admitted] == GOVERNOR_ADDRESSES
    assert {log["blockNumber"] for log in admitted} == {deployed.block_number}
    for log, (name, country) in zip(admitted, GOVERNOR_COUNTRIES, strict=True):
        args = log["args"]
        assert (args["proposalId"], args["name"], args["country"], args["roles"], args["endpoint"]) == (0, name, country.encode(), 1, "")
    assert len(reader.events.ProposalCreated().get_logs(from_block=0)) == 0
    granted = reader.events.RoleGranted().get_logs(from_block=0)
    assert sorted((log["args"]["role"], log["args"]["account"]) for log in granted) == sorted((Role.GOVERNOR.role_id, a) for a in GOVERNOR_ADDRESSES)


def test_nobody_holds_the_default_admin_role(reader: Consortium) -> None:
    f = reader.fns
    deployed = reader.ledger.deployments.contracts["ConsortiumRegistry"]
    deployer = reader.ledger.w3.eth.get_transaction(deployed.transaction_hash)["from"]
    for account in [*GOVERNOR_ADDRESSES, deployer, OUTSIDER.address]:
        assert not f.hasRole(DEFAULT_ADMIN_ROLE, account).call()
    # Every role is administered by DEFAULT_ADMIN_ROLE, which nobody holds: AccessControl's own path is closed.
    assert all(f.getRoleAdmin(role.role_id).call() == DEFAULT_ADMIN_ROLE for role in Role)
    assert not f.isActiveMember(deployer).call()


@pytest.mark.parametrize("function", ["grantRole", "revokeRole", "renounceRole"])
@pytest.mark.parametrize("role", [DEFAULT_ADMIN_ROLE, Role.GOVERNOR.role_id, Role.PROVIDER.role_id], ids=["admin", "governor", "provider"])
def test_access_control_entry_points_require_a_vote(consortium: Consortium, function: str, role: bytes) -> None:
    governor = consortium.governors[0]
    target = governor.address if function == "renounceRole" else GOVERNOR_ADDRESSES[1]
    before = consortium.state()
    with reverts("RoleChangeRequiresVote"):
        governor.transact(getattr(consortium.fns, function)(role, target))
    assert consortium.state() == before


def test_supports_its_interfaces(reader: Consortium) -> None:
    def selector(signature: str) -> int:
        return int.from_bytes(keccak(text=signature)[:4], "big")

    registry_id = (selector("isActiveMember(address)") ^ selector("hasActiveRole(bytes32,address)")).to_bytes(4, "big")
    f = reader.fns
    assert f.supportsInterface(registry_id).call()
    assert f.supportsInterface(bytes.fromhex("7965db0b")).call()  # IAccessControl
    assert f.supportsInterface(bytes.fromhex("01ffc9a7")).call()  # ERC-165
    assert not f.supportsInterface(bytes.fromhex("ffffffff")).call()
    assert not f.supportsInterface(bytes.fromhex("80ac58cd")).call()  # ERC-721: not this contract


def test_role_flag_constants_match_the_python_roles(reader: Consortium) -> None:
    f = reader.fns
    flags = [f.GOVERNOR_FLAG().call(), f.PROVIDER_FLAG().call(), f.PAYER_FLAG().call(), f.PHARMACY_FLAG().call(), f.AUDITOR_FLAG().call(), f.EMERGENCY_FLAG().call(), f.PRIVACY_OFFICER_FLAG().call(), f.PUBLIC_HEALTH_FLAG().call()]
    assert flags == [int(role) for role in Role]
    assert f.ALL_ROLE_FLAGS().call() == sum(flags) == 255
    limits = (f.MAX_NAME_LENGTH().call(), f.MAX_ENDPOINT_LENGTH().call(), f.MAX_REASON_LENGTH().call(), f.MAX_PUBLIC_KEY_LENGTH().call(), f.MAX_PROPOSAL_LIFETIME().call())
    assert limits == (64, 256, 256, 1300, 365 * 86400)


@FAST
@given(roles=st.integers(0, 255))
def test_role_ids_are_the_set_flags_in_order(reader: Consortium, roles: int) -> None:
    assert reader.fns.roleIds(roles).call() == [role.role_id for role in Role if roles & role]


def test_transaction_allowed_only_for_active_members(reader: Consortium) -> None:
    f = reader.fns
    assert f.transactionAllowed(GOVERNOR_ADDRESSES[2], OUTSIDER.address, 10**18, 10**9, 21000, b"\x01").call()
    assert not f.transactionAllowed(OUTSIDER.address, GOVERNOR_ADDRESSES[0], 0, 0, 0, b"").call()
    assert not f.transactionAllowed(ZERO_ADDRESS, ZERO_ADDRESS, 0, 0, 0, b"").call()


# --------------------------------------------------------------------------------------------------
# Admission by a 2-of-3 vote
# --------------------------------------------------------------------------------------------------


def test_admission_executes_exactly_once_at_quorum(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    proposer, second, third = c.governors
    receipt = proposer.transact(f.proposeAdmission(member_input()))
    (created,) = events_of(c, receipt, "ProposalCreated")
    proposal_id = created["proposalId"]
    created_at = c.ledger.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert proposal_id == 1 == f.proposalCount().call()
    assert (created["kind"], created["subject"], created["proposer"], created["expiresAt"]) == (ADMIT, CLINIC.address, proposer.address, created_at + LIFETIME)
    assert events_of(c, receipt, "ProposalApproved") == [{"proposalId": 1, "governor": proposer.address, "approvals": 1}]
    assert events_of(c, receipt, "MemberAdmitted") == [] and events_of(c, receipt, "ProposalExecuted") == []

    # The proposer's vote counts, but nothing changes before quorum.
    header = c.registry.proposal(proposal_id)
    assert (header.kind, header.subject, header.proposer, header.approvals, header.executed) == ("ADMIT", CLINIC.address, proposer.address, 1, False)
    assert (header.created_at, header.expires_at) == (created_at, created_at + LIFETIME)
    assert f.hasApproved(proposal_id, proposer.address).call() and not f.hasApproved(proposal_id, second.address).call()
    assert f.isProposalOpen(proposal_id).call()
    payload, reason = f.proposalPayload(proposal_id).call()
    assert tuple(payload) == member_input() and reason == ""
    assert c.registry.member(CLINIC.address) is None and f.memberCount().call() == 3
    assert not f.isActiveMember(CLINIC.address).call() and not f.transactionAllowed(CLINIC.address, ZERO_ADDRESS, 0, 0, 0, b"").call()

    receipt = second.transact(f.approve(proposal_id))
    admitted_at = c.ledger.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert events_of(c, receipt, "ProposalApproved") == [{"proposalId": 1, "governor": second.address, "approvals": 2}]
    assert events_of(c, receipt, "ProposalExecuted") == [{"proposalId": 1}]
    (admitted,) = events_of(c, receipt, "MemberAdmitted")
    assert admitted == {"account": CLINIC.address, "name": VALID_INPUT["name"], "country": b"BJ", "roles": 2, "hpkePublicKey": VALID_INPUT["key"], "endpoint": VALID_INPUT["endpoint"], "proposalId": 1}
    member = c.registry.member(CLINIC.address)
    assert member == Member(
        address=CLINIC.address, name=VALID_INPUT["name"], country="BJ", roles=["PROVIDER"], hpke_public_key="0x" + VALID_INPUT["key"].hex(),
        endpoint=VALID_INPUT["endpoint"], status="ACTIVE", admitted_at=admitted_at, updated_at=admitted_at,
    )
    assert f.memberAt(3).call() == CLINIC.address and f.memberCount().call() == 4
    assert f.hasActiveRole(Role.PROVIDER.role_id, CLINIC.address).call() and not f.hasActiveRole(Role.GOVERNOR.role_id, CLINIC.address).call()
    assert f.transactionAllowed(CLINIC.address, ZERO_ADDRESS, 0, 0, 0, b"").call()
    assert f.activeGovernorCount().call() == 3
    assert c.registry.proposal(proposal_id).executed and not f.isProposalOpen(proposal_id).call()

    # A third vote is refused and changes nothing: the proposal executed exactly once.
    before = c.state()
    with reverts("ProposalAlreadyExecuted", proposalId=proposal_id):
        third.transact(f.approve(proposal_id))
    assert c.state() == before
    assert c.events.MemberAdmitted().get_logs(from_block=0, argument_filters={"account": CLINIC.address})[0]["args"]["proposalId"] == 1
    assert len(c.events.MemberAdmitted().get_logs(from_block=0)) == 4


def test_admitted_member_is_funded_and_can_transact(consortium: Consortium) -> None:
    consortium.admit(CLINIC)
    clinic = consortium.sender(CLINIC)
    receipt = clinic.wait(clinic.submit_data(CLINIC.address, "0x"))  # estimateGas lets the gateway top the member up first
    assert receipt["status"] == 1 and receipt["from"] == CLINIC.address
    assert consortium.ledger.w3.eth.get_balance(CLINIC.address) > 0


def test_a_governor_cannot_approve_twice(consortium: Consortium) -> None:
    proposer = consortium.governors[0]
    proposal_id = consortium.registry.propose_admission(proposer, MemberApplication(address=CLINIC.address, name="Clinic", country="BJ", roles=["PROVIDER"], hpke_public_key=b"k"))
    before = consortium.state()
    with reverts("AlreadyApproved", proposalId=proposal_id, governor=proposer.address):
        proposer.transact(consortium.fns.approve(proposal_id))
    assert consortium.state() == before
    assert consortium.registry.proposal(proposal_id).approvals == 1 and consortium.registry.member(CLINIC.address) is None


@pytest.mark.parametrize("proposal_id", [0, 1, MAX_UINT256])
def test_unknown_proposals_are_refused(consortium: Consortium, proposal_id: int) -> None:
    f = consortium.fns
    before = consortium.state()
    with reverts("UnknownProposal", proposalId=proposal_id):
        consortium.governors[0].transact(f.approve(proposal_id))
    with reverts("UnknownProposal", proposalId=proposal_id):
        consortium.governors[0].call(f.proposal(proposal_id))
    with reverts("UnknownProposal", proposalId=proposal_id):
        consortium.governors[0].call(f.proposalPayload(proposal_id))
    assert not f.isProposalOpen(proposal_id).call() and not f.hasApproved(proposal_id, GOVERNOR_ADDRESSES[0]).call()
    assert consortium.state() == before


def test_a_provider_member_is_not_a_governor(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    c.admit(CLINIC)
    clinic = c.sender(CLINIC)
    pending = c.registry.propose_admission(c.governors[0], MemberApplication(address=INSURER.address, name="Insurer", country="KZ", roles=["PAYER"], hpke_public_key=b"k"))
    before = c.state()
    # The clinic is an active member, so the gateway would carry its transaction; the contract refuses it.
    with reverts("NotActiveGovernor", account=CLINIC.address):
        clinic.transact(f.approve(pending))
    with reverts("NotActiveGovernor", account=CLINIC.address):
        clinic.transact(f.proposeAdmission(member_input(account=OUTSIDER.address)))
    with reverts("NotActiveGovernor", account=CLINIC.address):
        clinic.transact(f.proposeKeyRotation(CLINIC.address, b"new", ""))
    assert c.state() == before and c.registry.member(INSURER.address) is None


def test_a_non_member_is_refused_by_the_contract_and_the_gateway(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    pending = c.registry.propose_admission(c.governors[0], MemberApplication(address=CLINIC.address, name="Clinic", country="BJ", roles=["PROVIDER"], hpke_public_key=b"k"))
    outsider = c.sender(OUTSIDER)
    before = c.state()
    for function in (
        f.approve(pending),
        f.proposeAdmission(member_input(account=OUTSIDER.address)),
        f.proposeSuspension(GOVERNOR_ADDRESSES[2], "reason"),
        f.proposeRoleChange(GOVERNOR_ADDRESSES[2], int(Role.GOVERNOR | Role.AUDITOR)),
        f.proposeKeyRotation(GOVERNOR_ADDRESSES[2], b"new", "https://new.example"),
    ):
        with reverts("NotActiveGovernor", account=OUTSIDER.address):
            outsider.call(function)
    # The gateway refuses the outsider's raw transaction before the contract could, naming the sender.
    reply = rpc(c.net.settings.gateway_url, "eth_sendRawTransaction", [signed_transfer(OUTSIDER, c.net.settings.chain_id, 0)])
    assert OUTSIDER.address in reply["error"]["message"] and "not a consortium member" in reply["error"]["message"]
    assert c.state() == before


# --------------------------------------------------------------------------------------------------
# Input validation (eth_call: no transaction per case)
# --------------------------------------------------------------------------------------------------

INVALID_ADMISSIONS = [
    pytest.param({"account": ZERO_ADDRESS}, "ZeroAddress", {}, id="zero-address"),
    pytest.param({"account": GOVERNOR_ADDRESSES[1]}, "AlreadyMember", {"account": GOVERNOR_ADDRESSES[1]}, id="already-member"),
    pytest.param({"name": ""}, "InvalidName", {"length": 0}, id="empty-name"),
    pytest.param({"name": "x" * 65}, "InvalidName", {"length": 65}, id="name-65"),
    pytest.param({"name": "é" * 33}, "InvalidName", {"length": 66}, id="name-counted-in-utf8-bytes"),
    pytest.param({"country": b"bj"}, "InvalidCountryCode", {"country": b"bj"}, id="lowercase-country"),
    pytest.param({"country": b"\x00\x00"}, "InvalidCountryCode", {"country": b"\x00\x00"}, id="empty-country"),
    pytest.param({"roles": 0}, "InvalidRoles", {"roles": 0}, id="no-roles"),
    # All eight bits of the uint8 are roles now (PRIVACY_OFFICER = 64, PUBLIC_HEALTH = 128): no unknown bit is left.
    pytest.param({"key": b""}, "InvalidPublicKey", {"length": 0}, id="empty-key"),
    pytest.param({"key": b"\x01" * 1301}, "InvalidPublicKey", {"length": 1301}, id="key-1301"),
    pytest.param({"endpoint": "h" * 257}, "InvalidEndpoint", {"length": 257}, id="endpoint-257"),
    # Checks run in a fixed order: the first failing field is reported.
    pytest.param({"name": "", "country": b"bj", "roles": 0}, "InvalidName", {"length": 0}, id="first-error-wins"),
]


@pytest.mark.parametrize(("overrides", "error", "args"), INVALID_ADMISSIONS)
def test_invalid_admissions_are_refused(reader: Consortium, overrides: dict[str, Any], error: str, args: dict[str, Any]) -> None:
    with reverts(error, **args):
        reader.governors[0].call(reader.fns.proposeAdmission(member_input(**overrides)))
    assert reader.fns.proposalCount().call() == 0


def test_boundary_admission_is_accepted_and_stored_exactly(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    name = "€" * 21 + "x"  # 64 bytes of UTF-8
    key, endpoint = bytes(range(256)) * 5 + b"\xff" * 20, "e" * 256
    assert len(name.encode()) == 64 and len(key) == 1300
    fields = member_input(name=name, country=b"ZZ", roles=255, key=key, endpoint=endpoint)
    proposal_id = c.passed(lambda governor: c.registry._proposal_id(governor.transact(f.proposeAdmission(fields))))
    assert f.member(CLINIC.address).call()[:5] == (name, b"ZZ", 255, key, endpoint)
    # All role flags include GOVERNOR: the new member counts toward governance immediately.
    assert f.activeGovernorCount().call() == 4
    assert [role.name for role in Role if not f.hasActiveRole(role.role_id, CLINIC.address).call()] == []
    assert c.registry.proposal(proposal_id).executed


def test_a_refused_proposal_sends_nothing(consortium: Consortium) -> None:
    before = consortium.state()
    with pytest.raises(ValidationError, match="ISO 3166-1 alpha-2"):  # caught by the wrapper, before any transaction
        clinic_application(country="bj")
    # Well-formed, but only the chain knows the account is already a member.
    with reverts("AlreadyMember", account=GOVERNOR_ADDRESSES[1]):
        consortium.registry.propose_admission(consortium.governors[0], clinic_application(address=GOVERNOR_ADDRESSES[1]))
    assert consortium.state() == before


UPPER = st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2).map(str.encode)


@FAST
@given(country=st.one_of(UPPER, st.binary(min_size=2, max_size=2)))
def test_country_code_is_exactly_two_uppercase_ascii_letters(reader: Consortium, country: bytes) -> None:
    call = reader.fns.proposeAdmission(member_input(country=country))
    if all(0x41 <= byte <= 0x5A for byte in country):
        assert reader.governors[0].call(call) == 1  # would become proposal 1
    else:
        with reverts("InvalidCountryCode", country=country):
            reader.governors[0].call(call)


@FAST
@given(roles=st.integers(0, 255), name_length=st.integers(0, 80))
def test_roles_and_name_length_bounds(reader: Consortium, roles: int, name_length: int) -> None:
    call = reader.fns.proposeAdmission(member_input(roles=roles, name="n" * name_length))
    if not 1 <= name_length <= 64:
        with reverts("InvalidName", length=name_length):
            reader.governors[0].call(call)
    elif not 1 <= roles <= 255:
        with reverts("InvalidRoles", roles=roles):
            reader.governors[0].call(call)
    else:
        assert reader.governors[0].call(call) == 1


@pytest.mark.parametrize(
    ("reason", "length"), [("", 0), ("r" * 257, 257), ("理" * 86, 258)], ids=["empty", "257", "utf8-bytes"]
)
def test_suspension_reason_must_be_1_to_256_bytes(reader: Consortium, reason: str, length: int) -> None:
    with reverts("InvalidReason", length=length):
        reader.governors[0].call(reader.fns.proposeSuspension(GOVERNOR_ADDRESSES[2], reason))
    assert reader.governors[0].call(reader.fns.proposeSuspension(GOVERNOR_ADDRESSES[2], "r" * 256)) == 1


@pytest.mark.parametrize(
    ("key", "endpoint", "error", "args"),
    [(b"", "", "InvalidPublicKey", {"length": 0}), (b"k" * 1301, "", "InvalidPublicKey", {"length": 1301}), (b"k", "e" * 257, "InvalidEndpoint", {"length": 257})],
    ids=["empty-key", "key-1301", "endpoint-257"],
)
def test_key_rotation_input_is_validated(reader: Consortium, key: bytes, endpoint: str, error: str, args: dict[str, Any]) -> None:
    with reverts(error, **args):
        reader.governors[0].call(reader.fns.proposeKeyRotation(GOVERNOR_ADDRESSES[2], key, endpoint))
    assert reader.governors[0].call(reader.fns.proposeKeyRotation(GOVERNOR_ADDRESSES[2], b"k" * 1300, "")) == 1


@pytest.mark.parametrize("roles", [0])  # every non-zero uint8 is a valid role set (eight roles)
def test_role_change_needs_valid_roles(reader: Consortium, roles: int) -> None:
    with reverts("InvalidRoles", roles=roles):
        reader.governors[0].call(reader.fns.proposeRoleChange(GOVERNOR_ADDRESSES[2], roles))


def test_proposals_about_non_members_are_refused(reader: Consortium) -> None:
    f, governor = reader.fns, reader.governors[0]
    for function in (
        f.proposeSuspension(OUTSIDER.address, "reason"),
        f.proposeReinstatement(OUTSIDER.address),
        f.proposeRoleChange(OUTSIDER.address, int(Role.PROVIDER)),
        f.proposeKeyRotation(OUTSIDER.address, b"k", ""),
    ):
        with reverts("NotMember", account=OUTSIDER.address):
            governor.call(function)
    with reverts("RolesUnchanged", account=GOVERNOR_ADDRESSES[2], roles=int(Role.GOVERNOR)):
        governor.call(f.proposeRoleChange(GOVERNOR_ADDRESSES[2], int(Role.GOVERNOR)))
    with reverts("InvalidMemberStatus", account=GOVERNOR_ADDRESSES[2], status=ACTIVE):
        governor.call(f.proposeReinstatement(GOVERNOR_ADDRESSES[2]))
    assert f.member(OUTSIDER.address).call()[5] == NONE and reader.registry.member(OUTSIDER.address) is None
    assert f.proposalCount().call() == 0


# --------------------------------------------------------------------------------------------------
# Suspension and reinstatement
# --------------------------------------------------------------------------------------------------


def test_suspension_revokes_everything_and_the_gateway_refuses_the_member(consortium: Consortium) -> None:
    c, f, w3 = consortium, consortium.fns, consortium.ledger.w3
    c.admit(CLINIC, Role.PROVIDER | Role.PAYER)
    clinic = c.sender(CLINIC)
    assert clinic.wait(clinic.submit_data(CLINIC.address, "0x"))["status"] == 1  # control: accepted while active

    proposal_id = c.registry.propose_suspension(c.governors[0], CLINIC.address, "licence lapsed")
    assert f.proposalPayload(proposal_id).call()[1] == "licence lapsed"
    assert f.isActiveMember(CLINIC.address).call() and f.hasRole(Role.PROVIDER.role_id, CLINIC.address).call()
    with reverts("InvalidMemberStatus", account=CLINIC.address, status=ACTIVE):  # not suspended yet
        c.governors[2].call(f.proposeReinstatement(CLINIC.address))

    receipt = c.governors[1].transact(f.approve(proposal_id))
    assert events_of(c, receipt, "MemberSuspended") == [{"account": CLINIC.address, "reason": "licence lapsed", "proposalId": proposal_id}]
    revoked = {(e["role"], e["account"]) for e in events_of(c, receipt, "RoleRevoked")}
    assert revoked == {(Role.PROVIDER.role_id, CLINIC.address), (Role.PAYER.role_id, CLINIC.address)}
    member = c.registry.member(CLINIC.address)
    assert member is not None and member.status == "SUSPENDED" and member.roles == ["PROVIDER", "PAYER"]  # flags kept
    assert member.updated_at == w3.eth.get_block(receipt["blockNumber"])["timestamp"] >= member.admitted_at
    assert not f.isActiveMember(CLINIC.address).call()
    assert not f.transactionAllowed(CLINIC.address, ZERO_ADDRESS, 0, 0, 0, b"").call()
    for role in (Role.PROVIDER, Role.PAYER):
        assert not f.hasActiveRole(role.role_id, CLINIC.address).call() and not f.hasRole(role.role_id, CLINIC.address).call()
    assert f.memberAt(3).call() == CLINIC.address and f.memberCount().call() == 4  # still listed

    # The gateway now refuses the suspended member's signed transactions, whichever client sends them.
    nonce, height = w3.eth.get_transaction_count(CLINIC.address), w3.eth.block_number
    with pytest.raises(TransactionFailed, match="suspended") as refused:
        c.sender(CLINIC).submit_data(CLINIC.address, "0x")
    assert CLINIC.address in str(refused.value)
    reply = rpc(c.net.settings.gateway_url, "eth_sendRawTransaction", [signed_transfer(CLINIC, c.net.settings.chain_id, nonce)])
    assert "suspended" in reply["error"]["message"] and CLINIC.address in reply["error"]["message"]
    assert (w3.eth.get_transaction_count(CLINIC.address), w3.eth.block_number) == (nonce, height)

    # Suspending again is refused at proposal time.
    before = c.state()
    with reverts("InvalidMemberStatus", account=CLINIC.address, status=SUSPENDED):
        c.governors[0].transact(f.proposeSuspension(CLINIC.address, "again"))
    assert c.state() == before


def test_reinstatement_restores_roles_and_the_gateway_accepts_again(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    c.admit(CLINIC, Role.PROVIDER | Role.AUDITOR)
    c.suspend(CLINIC.address)
    proposal_id = c.registry.propose_reinstatement(c.governors[2], CLINIC.address)
    assert not f.isActiveMember(CLINIC.address).call()  # one vote is not enough
    receipt = c.governors[0].transact(f.approve(proposal_id))
    assert events_of(c, receipt, "MemberReinstated") == [{"account": CLINIC.address, "proposalId": proposal_id}]
    assert {e["role"] for e in events_of(c, receipt, "RoleGranted")} == {Role.PROVIDER.role_id, Role.AUDITOR.role_id}
    member = c.registry.member(CLINIC.address)
    assert member is not None and member.status == "ACTIVE" and member.roles == ["PROVIDER", "AUDITOR"]
    assert f.hasActiveRole(Role.AUDITOR.role_id, CLINIC.address).call() and f.transactionAllowed(CLINIC.address, ZERO_ADDRESS, 0, 0, 0, b"").call()
    assert f.memberCount().call() == 4  # reinstated, not re-listed
    clinic = c.sender(CLINIC)
    assert clinic.wait(clinic.submit_data(CLINIC.address, "0x"))["status"] == 1


def test_suspending_a_governor_and_the_quorum_floor(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    gov0, gov1, gov2 = GOVERNOR_ADDRESSES
    c.suspend(gov2, "audit pending")
    assert f.activeGovernorCount().call() == 2 and not f.hasActiveRole(Role.GOVERNOR.role_id, gov2).call()
    with reverts("NotActiveGovernor", account=gov2):  # a suspended governor's vote is refused by the contract
        c.governors[2].call(f.proposeAdmission(member_input()))
    before = c.state()
    # Two active governors left with quorum 2: losing one more would make every vote impossible.
    with reverts("QuorumUnreachable", activeGovernors=1, quorum=QUORUM):
        c.governors[0].transact(f.proposeSuspension(gov1, "reason"))
    with reverts("QuorumUnreachable", activeGovernors=1, quorum=QUORUM):
        c.governors[1].transact(f.proposeRoleChange(gov0, int(Role.AUDITOR)))
    assert c.state() == before
    # Adding a role while keeping GOVERNOR is fine.
    c.passed(lambda governor: c.registry.propose_role_change(governor, gov1, Role.GOVERNOR | Role.AUDITOR))
    assert f.activeGovernorCount().call() == 2
    c.reinstate(gov2)
    assert f.activeGovernorCount().call() == 3 and f.hasActiveRole(Role.GOVERNOR.role_id, gov2).call()


# --------------------------------------------------------------------------------------------------
# Role changes and key rotation
# --------------------------------------------------------------------------------------------------


def test_role_change_grants_and_revokes_exactly_the_difference(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    c.admit(CLINIC, Role.PROVIDER | Role.PHARMACY)
    proposal_id = c.registry.propose_role_change(c.governors[0], CLINIC.address, Role.PROVIDER | Role.EMERGENCY)
    assert f.proposalPayload(proposal_id).call()[0][3] == int(Role.PROVIDER | Role.EMERGENCY)
    assert f.member(CLINIC.address).call()[2] == int(Role.PROVIDER | Role.PHARMACY)  # not before quorum
    receipt = c.governors[2].transact(f.approve(proposal_id))
    assert events_of(c, receipt, "MemberRolesChanged") == [{"account": CLINIC.address, "previousRoles": 10, "roles": 34, "proposalId": proposal_id}]
    assert [e["role"] for e in events_of(c, receipt, "RoleRevoked")] == [Role.PHARMACY.role_id]
    assert [e["role"] for e in events_of(c, receipt, "RoleGranted")] == [Role.EMERGENCY.role_id]  # PROVIDER untouched
    held = {role for role in Role if f.hasActiveRole(role.role_id, CLINIC.address).call()}
    assert held == {Role.PROVIDER, Role.EMERGENCY}
    assert c.registry.member(CLINIC.address).roles == ["PROVIDER", "EMERGENCY"]  # type: ignore[union-attr]

    before = c.state()
    with reverts("RolesUnchanged", account=CLINIC.address, roles=34):
        c.governors[0].transact(f.proposeRoleChange(CLINIC.address, 34))
    assert c.state() == before


def test_promoting_and_demoting_governors(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    c.admit(CLINIC)
    c.passed(lambda governor: c.registry.propose_role_change(governor, CLINIC.address, Role.GOVERNOR | Role.PROVIDER))
    assert f.activeGovernorCount().call() == 4
    # The new governor can vote at once.
    proposal_id = c.registry.propose_admission(c.sender(CLINIC), MemberApplication(address=INSURER.address, name="Insurer", country="KZ", roles=["PAYER"], hpke_public_key=b"k"))
    assert c.registry.approve(c.governors[2], proposal_id) and f.isActiveMember(INSURER.address).call()
    # Demote two genesis governors (the clinic casts the deciding vote on the second).
    c.passed(lambda governor: c.registry.propose_role_change(governor, GOVERNOR_ADDRESSES[2], Role.AUDITOR))
    demote_gov1 = c.registry.propose_role_change(c.governors[0], GOVERNOR_ADDRESSES[1], Role.AUDITOR)
    assert c.registry.approve(c.sender(CLINIC), demote_gov1)
    assert f.activeGovernorCount().call() == 2
    assert not f.hasRole(Role.GOVERNOR.role_id, GOVERNOR_ADDRESSES[1]).call() and f.hasActiveRole(Role.AUDITOR.role_id, GOVERNOR_ADDRESSES[1]).call()
    before = c.state()
    with reverts("QuorumUnreachable", activeGovernors=1, quorum=QUORUM):
        c.governors[0].transact(f.proposeRoleChange(CLINIC.address, int(Role.PROVIDER)))
    with reverts("NotActiveGovernor", account=GOVERNOR_ADDRESSES[1]):
        c.governors[1].transact(f.proposeKeyRotation(CLINIC.address, b"k", ""))
    assert c.state() == before


def test_role_change_of_a_suspended_member_takes_effect_on_reinstatement(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    gov2 = GOVERNOR_ADDRESSES[2]
    c.suspend(gov2)
    assert f.activeGovernorCount().call() == 2
    # Dropping GOVERNOR from a suspended governor does not reduce the active count, so quorum allows it.
    c.passed(lambda governor: c.registry.propose_role_change(governor, gov2, Role.PROVIDER))
    assert f.member(gov2).call()[2] == int(Role.PROVIDER) and f.activeGovernorCount().call() == 2
    assert not any(f.hasRole(role.role_id, gov2).call() for role in Role)  # suspended: no AccessControl roles
    c.reinstate(gov2)
    assert f.hasActiveRole(Role.PROVIDER.role_id, gov2).call() and not f.hasRole(Role.GOVERNOR.role_id, gov2).call()
    assert f.activeGovernorCount().call() == 2


def test_key_rotation_replaces_key_and_endpoint(consortium: Consortium) -> None:
    c, f, w3 = consortium, consortium.fns, consortium.ledger.w3
    c.admit(CLINIC)
    old = c.registry.member(CLINIC.address)
    new_key = b"\x07" * 1216
    proposal_id = c.registry.propose_key_rotation(c.governors[1], CLINIC.address, new_key, "")
    payload = f.proposalPayload(proposal_id).call()[0]
    assert (payload[0], payload[4], payload[5]) == (CLINIC.address, new_key, "")
    assert c.registry.member(CLINIC.address) == old  # nothing before quorum
    receipt = c.governors[0].transact(f.approve(proposal_id))
    assert events_of(c, receipt, "MemberKeysRotated") == [{"account": CLINIC.address, "hpkePublicKey": new_key, "endpoint": "", "proposalId": proposal_id}]
    member = c.registry.member(CLINIC.address)
    assert member is not None and old is not None
    assert (member.hpke_public_key, member.endpoint) == ("0x" + new_key.hex(), "")
    assert (member.name, member.country, member.roles, member.status, member.admitted_at) == (old.name, old.country, old.roles, old.status, old.admitted_at)
    assert member.updated_at == w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    # A suspended member's keys can still be rotated (e.g. after a key compromise).
    c.suspend(CLINIC.address)
    c.passed(lambda governor: c.registry.propose_key_rotation(governor, CLINIC.address, b"\x08", "https://b.example"))
    assert f.member(CLINIC.address).call()[3:6] == (b"\x08", "https://b.example", SUSPENDED)


# --------------------------------------------------------------------------------------------------
# Expiry and stale proposals
# --------------------------------------------------------------------------------------------------


def advance(c: Consortium, seconds: int) -> None:
    operator = c.net.operator_w3
    operator.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    operator.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_a_proposal_can_be_approved_until_just_before_expiry(consortium: Consortium) -> None:
    c = consortium
    proposal_id = c.registry.propose_admission(c.governors[0], MemberApplication(address=CLINIC.address, name="Clinic", country="BJ", roles=["PROVIDER"], hpke_public_key=b"k"))
    advance(c, LIFETIME - 120)
    assert c.fns.isProposalOpen(proposal_id).call()
    assert c.registry.approve(c.governors[1], proposal_id) and c.fns.isActiveMember(CLINIC.address).call()


def test_an_expired_proposal_cannot_be_approved(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    proposal_id = c.registry.propose_admission(c.governors[0], MemberApplication(address=CLINIC.address, name="Clinic", country="BJ", roles=["PROVIDER"], hpke_public_key=b"k"))
    expires_at = c.registry.proposal(proposal_id).expires_at
    advance(c, LIFETIME)
    assert c.ledger.w3.eth.get_block("latest")["timestamp"] >= expires_at
    assert not f.isProposalOpen(proposal_id).call()
    before = c.state()
    with reverts("ProposalExpired", proposalId=proposal_id, expiresAt=expires_at):
        c.governors[1].transact(f.approve(proposal_id))
    assert c.state() == before
    header = c.registry.proposal(proposal_id)
    assert (header.approvals, header.executed) == (1, False) and c.registry.member(CLINIC.address) is None
    # An expired proposal does not block a fresh one for the same subject.
    fresh = c.admit(CLINIC)
    assert fresh == proposal_id + 1 and f.isActiveMember(CLINIC.address).call()


def test_a_stale_admission_reverts_at_execution_and_the_vote_is_not_recorded(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    first = c.registry.propose_admission(c.governors[0], MemberApplication(address=CLINIC.address, name="Clinic A", country="BJ", roles=["PROVIDER"], hpke_public_key=b"a"))
    second = c.registry.propose_admission(c.governors[1], MemberApplication(address=CLINIC.address, name="Clinic B", country="CN", roles=["PAYER"], hpke_public_key=b"b"))
    assert c.registry.approve(c.governors[2], first)
    before = c.state()
    with reverts("AlreadyMember", account=CLINIC.address):
        c.governors[2].transact(f.approve(second))
    assert c.state() == before
    # Even when mined without estimation, the reverted execution leaves no vote behind.
    tx_hash = send_without_estimate(c, c.net.governors[0], f.approve(second))
    with reverts("AlreadyMember", account=CLINIC.address):
        c.governors[0].wait(tx_hash)
    assert not f.hasApproved(second, GOVERNOR_ADDRESSES[0]).call()
    header = c.registry.proposal(second)
    assert (header.approvals, header.executed) == (1, False)
    assert c.registry.member(CLINIC.address).name == "Clinic A"  # type: ignore[union-attr]


def test_stale_suspension_reinstatement_and_role_change_revert_at_execution(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    gov1, gov2 = GOVERNOR_ADDRESSES[1:]
    c.admit(CLINIC)
    # Both governor suspensions pass the quorum check when proposed; only one can execute.
    suspend_gov2 = c.registry.propose_suspension(c.governors[0], gov2, "first")
    suspend_gov1 = c.registry.propose_suspension(c.governors[0], gov1, "second")
    suspend_clinic = c.registry.propose_suspension(c.governors[0], CLINIC.address, "twice")
    change_a = c.registry.propose_role_change(c.governors[0], CLINIC.address, Role.PAYER)
    change_b = c.registry.propose_role_change(c.governors[1], CLINIC.address, Role.PAYER)
    assert c.registry.approve(c.governors[1], suspend_gov2)
    assert c.registry.approve(c.governors[1], change_a)
    c.suspend(CLINIC.address)
    before = c.state()
    with reverts("QuorumUnreachable", activeGovernors=1, quorum=QUORUM):
        c.governors[1].transact(f.approve(suspend_gov1))
    with reverts("InvalidMemberStatus", account=CLINIC.address, status=SUSPENDED):
        c.governors[1].transact(f.approve(suspend_clinic))
    with reverts("RolesUnchanged", account=CLINIC.address, roles=int(Role.PAYER)):
        c.governors[0].transact(f.approve(change_b))
    assert c.state() == before
    assert f.activeGovernorCount().call() == 2 and f.isActiveMember(gov1).call() and f.member(CLINIC.address).call()[2] == int(Role.PAYER)

    reinstate_a = c.registry.propose_reinstatement(c.governors[0], CLINIC.address)
    reinstate_b = c.registry.propose_reinstatement(c.governors[1], CLINIC.address)
    assert c.registry.approve(c.governors[1], reinstate_a)
    before = c.state()
    with reverts("InvalidMemberStatus", account=CLINIC.address, status=ACTIVE):
        c.governors[0].transact(f.approve(reinstate_b))
    assert c.state() == before
    for proposal_id in (suspend_gov1, suspend_clinic, change_b, reinstate_b):
        assert c.registry.proposal(proposal_id).approvals == 1 and not c.registry.proposal(proposal_id).executed


# --------------------------------------------------------------------------------------------------
# Vote validity: an approval counts only while its caster stays an active governor
# --------------------------------------------------------------------------------------------------


def approvals_in(c: Consortium, receipt: TxReceipt) -> list[int]:
    return [event["approvals"] for event in events_of(c, receipt, "ProposalApproved")]


def votes(c: Consortium, proposal_id: int) -> list[bool]:
    return [c.registry.has_approved(proposal_id, address) for address in GOVERNOR_ADDRESSES]


def test_a_suspended_proposers_vote_no_longer_counts(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    gov2 = GOVERNOR_ADDRESSES[2]
    proposal_id = c.registry.propose_admission(c.governors[2], clinic_application())
    assert c.registry.proposal(proposal_id).approvals == 1 and votes(c, proposal_id) == [False, False, True]
    c.suspend(gov2)
    # The views show the lapse at once, before any vote re-counts the proposal.
    assert c.registry.proposal(proposal_id).approvals == 0 and votes(c, proposal_id) == [False, False, False]
    assert c.registry.is_proposal_open(proposal_id)
    receipt = c.governors[0].transact(f.approve(proposal_id))
    # A plain counter would have reached quorum 2 here and admitted the clinic.
    assert approvals_in(c, receipt) == [1] and events_of(c, receipt, "ProposalExecuted") == []
    assert c.registry.member(CLINIC.address) is None and c.registry.proposal(proposal_id).approvals == 1
    receipt = c.governors[1].transact(f.approve(proposal_id))
    assert approvals_in(c, receipt) == [2] and events_of(c, receipt, "ProposalExecuted") == [{"proposalId": proposal_id}]
    assert f.isActiveMember(CLINIC.address).call()
    header = c.registry.proposal(proposal_id)
    assert (header.approvals, header.executed) == (2, True) and votes(c, proposal_id) == [True, True, False]


@pytest.mark.parametrize("vote_while_suspended", [False, True], ids=["reinstated-before-next-vote", "vote-while-suspended"])
def test_a_reinstated_governors_lapsed_vote_stays_lapsed_but_it_may_vote_again(consortium: Consortium, vote_while_suspended: bool) -> None:
    c, f = consortium, consortium.fns
    gov2 = GOVERNOR_ADDRESSES[2]
    proposal_id = c.registry.propose_admission(c.governors[2], clinic_application())
    c.suspend(gov2)
    if vote_while_suspended:
        assert not c.registry.approve(c.governors[0], proposal_id)
    c.reinstate(gov2)
    assert f.isActiveMember(gov2).call() and f.activeGovernorCount().call() == 3
    # Same outcome whether or not a vote re-counted the proposal in between: the old vote never revives.
    assert c.registry.proposal(proposal_id).approvals == int(vote_while_suspended) and not c.registry.has_approved(proposal_id, gov2)
    if not vote_while_suspended:
        assert not c.registry.approve(c.governors[0], proposal_id)  # 1 of 2
    assert c.registry.member(CLINIC.address) is None
    # Reinstated, the governor is in a new term: its fresh vote is accepted (not AlreadyApproved) and decides.
    receipt = c.governors[2].transact(f.approve(proposal_id))
    assert approvals_in(c, receipt) == [2] and events_of(c, receipt, "ProposalExecuted") == [{"proposalId": proposal_id}]
    assert f.isActiveMember(CLINIC.address).call() and votes(c, proposal_id) == [True, False, True]


def test_a_demoted_governors_vote_no_longer_counts(consortium: Consortium) -> None:
    c, f = consortium, consortium.fns
    gov2 = GOVERNOR_ADDRESSES[2]
    proposal_id = c.registry.propose_admission(c.governors[2], clinic_application())
    c.passed(lambda governor: c.registry.propose_role_change(governor, gov2, Role.AUDITOR))
    assert f.isActiveMember(gov2).call() and not f.hasActiveRole(Role.GOVERNOR.role_id, gov2).call()
    assert c.registry.proposal(proposal_id).approvals == 0 and not c.registry.has_approved(proposal_id, gov2)
    before = c.state()
    with reverts("NotActiveGovernor", account=gov2):
        c.governors[2].transact(f.approve(proposal_id))
    assert c.state() == before
    assert not c.registry.approve(c.governors[0], proposal_id)
    assert c.registry.member(CLINIC.address) is None
    # Promoted again, it starts a new term: the vote cast before the demotion still does not count.
    c.passed(lambda governor: c.registry.propose_role_change(governor, gov2, Role.GOVERNOR | Role.AUDITOR))
    assert c.registry.proposal(proposal_id).approvals == 1 and not c.registry.has_approved(proposal_id, gov2)
    assert c.registry.approve(c.governors[2], proposal_id) and f.isActiveMember(CLINIC.address).call()


def deploy_registry(c: Consortium, founders: list[tuple[str, str, bytes, int, bytes, str]], quorum: int) -> Contract:
    """A second registry; its founders must be session members so the gateway carries their transactions."""
    receipt = c.governors[0].deploy(creation_code(c, founders, quorum, LIFETIME))
    return c.ledger.w3.eth.contract(address=receipt["contractAddress"], abi=c.registry.contract.abi)


def test_with_quorum_three_a_lapsed_first_approval_is_dropped_and_the_rest_still_count(consortium: Consortium) -> None:
    c = consortium
    c.admit(CLINIC)
    gov0, gov1, gov2, clinic = *c.governors, c.sender(CLINIC)
    registry = deploy_registry(c, [genesis_input(sender.address) for sender in (gov0, gov1, gov2, clinic)], quorum=3)
    f = registry.functions

    def approved(receipt: TxReceipt) -> tuple[list[int], bool]:
        tallies = [event["args"]["approvals"] for event in registry.events.ProposalApproved().process_receipt(receipt, errors=DISCARD)]
        return tallies, bool(registry.events.ProposalExecuted().process_receipt(receipt, errors=DISCARD))

    gov0.transact(f.proposeAdmission(member_input(account=INSURER.address)))
    assert approved(gov1.transact(f.approve(1))) == ([2], False)
    # Suspend gov0, the first recorded approver (3 of the 4 governors vote).
    gov1.transact(f.proposeSuspension(gov0.address, "audit"))
    gov2.transact(f.approve(2))
    assert approved(clinic.transact(f.approve(2))) == ([3], True)
    assert f.proposal(1).call()[5] == 1 and not f.hasApproved(1, gov0.address).call() and f.hasApproved(1, gov1.address).call()
    # gov2's vote drops gov0's entry and counts gov1 + gov2: a plain counter would have executed at 3.
    assert approved(gov2.transact(f.approve(1))) == ([2], False)
    assert not f.isActiveMember(INSURER.address).call()
    with reverts("AlreadyApproved", proposalId=1, governor=gov1.address):
        gov1.transact(f.approve(1))
    assert approved(clinic.transact(f.approve(1))) == ([3], True)
    assert f.isActiveMember(INSURER.address).call()
    assert list(f.proposal(1).call()[5:]) == [3, 2]  # executed with 3 approvals
    assert [f.hasApproved(1, sender.address).call() for sender in (gov0, gov1, gov2, clinic)] == [False, True, True, True]


# --------------------------------------------------------------------------------------------------
# Pagination, directory, find
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "limit", "expected"),
    [(0, 0, []), (0, 1, [0]), (1, 1, [1]), (2, 10, [2]), (3, 1, []), (100, 5, []), (1, MAX_UINT256, [1, 2]), (MAX_UINT256, MAX_UINT256, [])],
)
def test_member_pages(reader: Consortium, offset: int, limit: int, expected: list[int]) -> None:
    assert reader.fns.members(offset, limit).call() == [GOVERNOR_ADDRESSES[i] for i in expected]


@FAST
@given(offset=st.one_of(st.integers(0, 5), st.integers(0, MAX_UINT256)), limit=st.one_of(st.integers(0, 5), st.integers(0, MAX_UINT256)))
def test_member_pages_are_slices_of_the_admission_order(reader: Consortium, offset: int, limit: int) -> None:
    assert reader.fns.members(offset, limit).call() == GOVERNOR_ADDRESSES[offset : offset + limit]


@pytest.mark.parametrize("index", [3, 4, MAX_UINT256])
def test_member_at_out_of_bounds(reader: Consortium, index: int) -> None:
    assert [reader.fns.memberAt(i).call() for i in range(3)] == GOVERNOR_ADDRESSES
    with reverts("IndexOutOfBounds", index=index, count=3):
        reader.governors[0].call(reader.fns.memberAt(index))


def test_directory_and_find(consortium: Consortium) -> None:
    c = consortium
    c.admit(CLINIC, name="Yinchuan First People's Hospital", country="CN")
    c.admit(INSURER, Role.PAYER, name="Benin Health Insurance Fund", country="BJ")
    c.suspend(INSURER.address)
    directory = c.registry.directory()
    assert [m.address for m in directory] == [*GOVERNOR_ADDRESSES, CLINIC.address, INSURER.address]
    assert [m.status for m in directory] == ["ACTIVE"] * 4 + ["SUSPENDED"]
    assert [m.active for m in directory] == [True] * 4 + [False]
    assert directory[3] == c.registry.member(CLINIC.address)
    assert c.registry.find("yinchuan first people's HOSPITAL") == directory[3]
    assert c.registry.find(INSURER.address.lower()) == directory[4]
    assert c.registry.find(to_checksum_address(INSURER.address)) == directory[4]
    assert c.registry.find(GOVERNOR_COUNTRIES[1][0]) == directory[1]
    assert c.registry.find("Yinchuan") is None and c.registry.find(OUTSIDER.address) is None
    assert c.registry.is_active(CLINIC.address) and not c.registry.is_active(INSURER.address)
    assert c.registry.has_active_role(Role.PROVIDER, CLINIC.address) and not c.registry.has_active_role(Role.PAYER, INSURER.address)


def test_events_alone_rebuild_the_directory(consortium: Consortium) -> None:
    c = consortium
    w3 = c.ledger.w3
    c.admit(CLINIC, Role.PROVIDER)
    c.admit(INSURER, Role.PAYER, country="KZ")
    c.suspend(CLINIC.address)
    c.passed(lambda governor: c.registry.propose_role_change(governor, INSURER.address, Role.PAYER | Role.AUDITOR))
    c.passed(lambda governor: c.registry.propose_key_rotation(governor, INSURER.address, b"\x09" * 40, "https://kz.example"))
    c.passed(lambda governor: c.registry.propose_role_change(governor, CLINIC.address, Role.PHARMACY))  # while suspended
    c.reinstate(CLINIC.address)
    c.suspend(GOVERNOR_ADDRESSES[2], "audit")

    logs = [log for name in ("MemberAdmitted", "MemberSuspended", "MemberReinstated", "MemberRolesChanged", "MemberKeysRotated") for log in getattr(c.events, name)().get_logs(from_block=0)]
    logs.sort(key=lambda log: (log["blockNumber"], log["logIndex"]))
    timestamps: dict[int, int] = {}
    rebuilt: dict[str, dict[str, Any]] = {}
    for log in logs:
        args, event = log["args"], log["event"]
        at = timestamps.setdefault(log["blockNumber"], w3.eth.get_block(log["blockNumber"])["timestamp"])
        if event == "MemberAdmitted":
            rebuilt[args["account"]] = {
                "address": args["account"], "name": args["name"], "country": args["country"].decode(), "roles": args["roles"],
                "hpke_public_key": "0x" + args["hpkePublicKey"].hex(), "endpoint": args["endpoint"], "status": "ACTIVE", "admitted_at": at,
            }
        entry = rebuilt[args["account"]]
        entry["updated_at"] = at
        if event == "MemberSuspended":
            entry["status"] = "SUSPENDED"
        elif event == "MemberReinstated":
            entry["status"] = "ACTIVE"
        elif event == "MemberRolesChanged":
            assert entry["roles"] == args["previousRoles"]
            entry["roles"] = args["roles"]
        elif event == "MemberKeysRotated":
            entry["hpke_public_key"], entry["endpoint"] = "0x" + args["hpkePublicKey"].hex(), args["endpoint"]
    replayed = [Member(**(entry | {"roles": role_names(entry["roles"])})) for entry in rebuilt.values()]
    kinds = [log["args"]["kind"] for log in c.events.ProposalCreated().get_logs(from_block=0)]
    assert kinds == [ADMIT, ADMIT, SUSPEND, CHANGE_ROLES, ROTATE_KEYS, CHANGE_ROLES, REINSTATE, SUSPEND]
    assert replayed == c.registry.directory()
    assert len(replayed) == 5 and replayed[3].roles == ["PHARMACY"] and replayed[4].endpoint == "https://kz.example"


# --------------------------------------------------------------------------------------------------
# The Python wrapper: validation before any transaction, and what a governor reads before voting
# --------------------------------------------------------------------------------------------------


def bad_checksum(address: str) -> str:
    """`address` with the case of its first letter flipped: hex-valid, EIP-55-invalid."""
    index = next(i for i, char in enumerate(address) if i >= 2 and char.isalpha())
    return address[:index] + address[index].swapcase() + address[index + 1 :]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        pytest.param({"country": "bj"}, "country", "ISO 3166-1 alpha-2", id="lowercase-country"),
        pytest.param({"country": "BEN"}, "country", "ISO 3166-1 alpha-2", id="alpha-3-country"),
        pytest.param({"country": "BJ\n"}, "country", "ISO 3166-1 alpha-2", id="country-trailing-newline"),
        pytest.param({"roles": []}, "roles", "at least one role", id="no-roles"),
        pytest.param({"roles": ["PROVIDER", "DOCTOR"]}, "roles", "unknown role 'DOCTOR'", id="unknown-role"),
        pytest.param({"name": ""}, "name", "1 to 64 bytes", id="empty-name"),
        pytest.param({"name": "x" * 65}, "name", "got 65", id="name-65"),
        pytest.param({"name": "é" * 33}, "name", "got 66", id="name-counted-in-utf8-bytes"),
        pytest.param({"endpoint": "e" * 257}, "endpoint", "at most 256 bytes", id="endpoint-257"),
        pytest.param({"hpke_public_key": b""}, "hpke_public_key", "1 to 1300 bytes (got 0)", id="empty-key"),
        pytest.param({"hpke_public_key": b"k" * 1301}, "hpke_public_key", "got 1301", id="key-1301"),
        pytest.param({"hpke_public_key": "a text key"}, "hpke_public_key", "0x-prefixed hex", id="key-as-text"),
        pytest.param({"address": "0x" + "zz" * 20}, "address", "not an Ethereum address", id="non-hex-address"),
        pytest.param({"address": CLINIC.address[:-1]}, "address", "not an Ethereum address", id="short-address"),
        pytest.param({"address": ZERO_ADDRESS}, "address", "zero address", id="zero-address"),
        pytest.param({"address": bad_checksum(CLINIC.address)}, "address", "invalid EIP-55 checksum", id="bad-checksum"),
        pytest.param({"website": "https://x.example"}, "website", "Extra inputs are not permitted", id="unknown-field"),
    ],
)
def test_member_application_refuses_bad_input_with_a_clear_error(overrides: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        clinic_application(**overrides)
    (error,) = info.value.errors()
    assert error["loc"] == (field,) and message in error["msg"], error


def test_member_application_normalises_what_it_accepts() -> None:
    application = clinic_application(
        address=CLINIC.address.lower(), name=VALID_INPUT["name"], roles=["payer", " Provider "],
        hpke_public_key="0x" + VALID_INPUT["key"].hex(), endpoint=VALID_INPUT["endpoint"],
    )
    assert application.address == CLINIC.address and application.roles == ["PROVIDER", "PAYER"]
    assert application.as_tuple() == member_input(roles=int(Role.PROVIDER | Role.PAYER))
    boundary = clinic_application(name="€" * 21 + "x", country="ZZ", hpke_public_key=b"k" * 1300, endpoint="e" * 256)
    assert boundary.as_tuple()[1:] == ("€" * 21 + "x", b"ZZ", int(Role.PROVIDER), b"k" * 1300, "e" * 256)


@pytest.mark.parametrize("text", ["0x" + "zz" * 20, "0x" + "g" * 40, bad_checksum(GOVERNOR_ADDRESSES[0])], ids=["non-hex", "g", "bad-checksum"])
def test_find_refuses_a_malformed_address_instead_of_crashing(reader: Consortium, text: str) -> None:
    with pytest.raises(ValueError, match="not an Ethereum address|invalid EIP-55 checksum"):
        reader.registry.find(text)
    with pytest.raises(ValueError, match="not an Ethereum address|invalid EIP-55 checksum"):
        reader.registry.member(text)
    # Text that is not address-shaped is a name lookup.
    assert reader.registry.find("0x12") is None and reader.registry.find("0x" + "zz" * 21) is None
    assert reader.registry.find(GOVERNOR_ADDRESSES[0].upper().replace("0X", "0x")) == reader.registry.member(GOVERNOR_ADDRESSES[0])


def test_governors_can_read_what_they_vote_on(consortium: Consortium) -> None:
    c = consortium
    gov0, gov1, _ = GOVERNOR_ADDRESSES
    c.admit(CLINIC)
    insurer = MemberApplication(
        address=INSURER.address.lower(), name="Benin Health Insurance Fund", country="BJ", roles=["payer"],
        hpke_public_key="0x" + "05" * 32, endpoint="https://insurer.example",
    )
    admit = c.registry.propose_admission(c.governors[0], insurer)
    suspend = c.registry.propose_suspension(c.governors[1], CLINIC.address, "licence lapsed")
    change = c.registry.propose_role_change(c.governors[0], CLINIC.address, Role.PROVIDER | Role.EMERGENCY)
    rotate = c.registry.propose_key_rotation(c.governors[2], CLINIC.address, b"\x07" * 32, "https://new.example")
    assert c.registry.proposal_payload(admit) == ProposalPayload(
        proposal_id=admit, kind="ADMIT", subject=INSURER.address, name="Benin Health Insurance Fund", country="BJ",
        roles=["PAYER"], hpke_public_key="0x" + "05" * 32, endpoint="https://insurer.example",
    )
    assert c.registry.proposal_payload(suspend) == ProposalPayload(proposal_id=suspend, kind="SUSPEND", subject=CLINIC.address, reason="licence lapsed")
    assert c.registry.proposal_payload(change) == ProposalPayload(proposal_id=change, kind="CHANGE_ROLES", subject=CLINIC.address, roles=["PROVIDER", "EMERGENCY"])
    assert c.registry.proposal_payload(rotate) == ProposalPayload(
        proposal_id=rotate, kind="ROTATE_KEYS", subject=CLINIC.address, hpke_public_key="0x" + "07" * 32, endpoint="https://new.example"
    )
    assert c.registry.has_approved(admit, gov0) and not c.registry.has_approved(admit, gov1.lower())
    assert c.registry.is_proposal_open(admit)
    assert c.registry.approve(c.governors[1], admit)
    assert not c.registry.is_proposal_open(admit) and c.registry.has_approved(admit, gov1)
    assert c.registry.proposal_payload(admit).name == "Benin Health Insurance Fund"  # still readable once executed
    assert c.registry.approve(c.governors[0], suspend)
    reinstate = c.registry.propose_reinstatement(c.governors[2], CLINIC.address)
    assert c.registry.proposal_payload(reinstate) == ProposalPayload(proposal_id=reinstate, kind="REINSTATE", subject=CLINIC.address)
    # Unknown ids: decoded contract errors for the header and payload, False for the yes/no reads.
    with reverts("UnknownProposal", proposalId=99):
        c.registry.proposal_payload(99)
    with reverts("UnknownProposal", proposalId=99):
        c.registry.proposal(99)
    assert not c.registry.is_proposal_open(99) and not c.registry.has_approved(99, gov0)
    with pytest.raises(ValueError, match="not an Ethereum address"):
        c.registry.has_approved(admit, "gov0")


# --------------------------------------------------------------------------------------------------
# Constructor
# --------------------------------------------------------------------------------------------------


def genesis_input(account: str, roles: int = 1, country: bytes = b"CN") -> tuple[str, str, bytes, int, bytes, str]:
    return member_input(account=account, name=f"Founder {account[:6]}", country=country, roles=roles)


def creation_code(c: Consortium, members: list[tuple[str, str, bytes, int, bytes, str]], quorum: int, lifetime: int) -> str:
    artifact = load_artifact("ConsortiumRegistry")
    factory = c.ledger.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    return factory.constructor(members, quorum, lifetime).data_in_transaction


@pytest.mark.parametrize(
    ("members", "quorum", "lifetime", "error", "args"),
    [
        pytest.param([0], 0, 3600, "InvalidQuorum", {"quorum": 0}, id="quorum-0"),
        pytest.param([0], 1, 0, "InvalidProposalLifetime", {"lifetime": 0}, id="lifetime-0"),
        pytest.param([0], 1, 365 * 86400 + 1, "InvalidProposalLifetime", {"lifetime": 365 * 86400 + 1}, id="lifetime-over-a-year"),
        pytest.param([], 1, 3600, "QuorumUnreachable", {"activeGovernors": 0, "quorum": 1}, id="no-members"),
        pytest.param([0], 2, 3600, "QuorumUnreachable", {"activeGovernors": 1, "quorum": 2}, id="too-few-governors"),
        pytest.param([0, 1], 2, 3600, "QuorumUnreachable", {"activeGovernors": 1, "quorum": 2}, id="provider-is-not-a-governor"),
        pytest.param([0, 0], 1, 3600, "AlreadyMember", {}, id="duplicate-founder"),
        pytest.param([2], 1, 3600, "InvalidCountryCode", {"country": b"cn"}, id="invalid-founder"),
    ],
)
def test_invalid_genesis_is_refused(consortium: Consortium, members: list[int], quorum: int, lifetime: int, error: str, args: dict[str, Any]) -> None:
    founders = [genesis_input(OUTSIDER.address), genesis_input(CLINIC.address, roles=int(Role.PROVIDER)), genesis_input(INSURER.address, country=b"cn")]
    before = consortium.state()
    with reverts(error, **args):
        consortium.governors[0].deploy(creation_code(consortium, [founders[i] for i in members], quorum, lifetime))
    assert consortium.state() == before


def test_a_quorum_of_one_executes_on_proposal(consortium: Consortium) -> None:
    c = consortium
    founder = c.governors[0]  # a session member, so the gateway carries its transactions to the new registry too
    code = creation_code(c, [genesis_input(founder.address), genesis_input(CLINIC.address, roles=int(Role.PROVIDER))], 1, 365 * 86400)
    registry = c.ledger.w3.eth.contract(address=founder.deploy(code)["contractAddress"], abi=c.registry.contract.abi)
    f = registry.functions
    assert (f.quorum().call(), f.proposalLifetime().call(), f.activeGovernorCount().call(), f.memberCount().call()) == (1, 365 * 86400, 1, 2)
    assert not f.hasRole(DEFAULT_ADMIN_ROLE, founder.address).call()  # deploying grants nothing
    receipt = founder.transact(f.proposeAdmission(member_input(account=INSURER.address)))
    assert [log["args"]["proposalId"] for log in registry.events.ProposalExecuted().process_receipt(receipt, errors=DISCARD)] == [1]
    assert f.isActiveMember(INSURER.address).call() and f.members(0, 10).call() == [founder.address, CLINIC.address, INSURER.address]
    assert not c.fns.isActiveMember(INSURER.address).call()  # the session registry is untouched
