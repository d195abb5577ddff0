"""`network up` on geth: the project's chain behind the gateway, members funded by transfers, loopback only."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from crypto import HpkePrivateKey
from ledger.registry import ConsortiumRegistry, MemberApplication
from network.operator import load_or_create_operator
from network.sandbox import Sandbox, sandbox_network
from tests.support.rpc import rpc, signed_transfer

TCP_LISTEN = "0A"


@pytest.fixture(scope="module")
def geth_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_network(tmp_path_factory.mktemp("geth"), "healthsilk-test", engine="geth") as sandbox:
        yield sandbox


def test_network_up_runs_geth_on_the_project_chain(geth_network: Sandbox) -> None:
    s = geth_network.settings
    assert geth_network.engine == "geth" and set(geth_network.network.status()) == {"geth", "gateway", "ipfs", "supervisor"}
    assert rpc(s.node_url, "web3_clientVersion")["result"].startswith("Geth/v1.17.")
    assert int(rpc(s.gateway_url, "eth_chainId")["result"], 16) == s.chain_id == 7331
    assert rpc(s.gateway_url, "net_version")["result"] == str(s.chain_id)
    registry = geth_network.ledger().contract("ConsortiumRegistry")
    assert geth_network.w3.eth.get_code(registry.address)
    # The operator is geth's dev account (its key in the keystore), not geth's well-known developer key.
    operator = load_or_create_operator(s.operator_file)
    assert [Web3.to_checksum_address(a) for a in rpc(s.node_url, "eth_accounts")["result"]] == [operator.address]


def test_member_transaction_goes_through_the_gateway_funded_by_a_transfer(geth_network: Sandbox) -> None:
    s = geth_network.settings
    w3 = geth_network.w3
    governor = geth_network.governors[1]
    funder = load_or_create_operator(s.operator_file).funding_account
    raw = signed_transfer(governor, s.chain_id, w3.eth.get_transaction_count(governor.address), to=governor.address)
    tx_hash = rpc(s.gateway_url, "eth_sendRawTransaction", [raw])["result"]
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["status"] == 1
    # geth has no anvil_setBalance: the top-up was a transaction from the operator's funding account.
    assert "error" in rpc(s.node_url, "anvil_setBalance", [governor.address, "0x1"])
    assert w3.eth.get_transaction_count(funder.address) >= 1
    assert w3.eth.get_balance(governor.address) >= 10 * 10**18


def test_non_member_transaction_is_refused(geth_network: Sandbox) -> None:
    s = geth_network.settings
    outsider = Account.create()
    height = rpc(s.gateway_url, "eth_blockNumber")["result"]
    reply = rpc(s.gateway_url, "eth_sendRawTransaction", [signed_transfer(outsider, s.chain_id, 0)])
    assert reply["error"]["code"] == -32007
    assert outsider.address in reply["error"]["message"] and "not a consortium member" in reply["error"]["message"]
    assert rpc(s.gateway_url, "eth_blockNumber")["result"] == height
    assert int(rpc(s.node_url, "txpool_status")["result"]["pending"], 16) == 0


@pytest.mark.parametrize("method", ["debug_setHead", "txpool_content", "admin_nodeInfo", "dev_setFeeRecipient", "miner_setGasPrice"])
def test_geth_operator_methods_are_refused_at_the_gateway(geth_network: Sandbox, method: str) -> None:
    reply = rpc(geth_network.settings.gateway_url, method, [])
    assert reply["error"]["code"] == -32601 and method in reply["error"]["message"]


def test_geth_sockets_are_all_on_loopback(geth_network: Sandbox) -> None:
    pid = geth_network.network.chain.pid()
    assert pid is not None
    sockets = _sockets_of(pid)
    listening = [(proto, address, port) for proto, address, port, state in sockets if proto.startswith("udp") or state == TCP_LISTEN]
    # Only the private HTTP port: no p2p listener (TCP or discovery UDP), no auth port, no metrics.
    assert listening == [("tcp", "127.0.0.1", geth_network.settings.node_port)]
    assert all(address == "127.0.0.1" for _, address, _, _ in sockets), sockets


def _sockets_of(pid: int) -> list[tuple[str, str, int, str]]:
    """(protocol, local address, local port, state) of every inet socket the process holds (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                address, port = fields[1].split(":")
                found.append((proto, _address(address), int(port, 16), fields[3]))
    return found


def _address(hex_address: str) -> str:
    if len(hex_address) == 8:
        return ".".join(str(b) for b in reversed(bytes.fromhex(hex_address)))
    raw = b"".join(bytes.fromhex(hex_address[i : i + 8])[::-1] for i in range(0, 32, 8))
    return "::1" if raw == bytes(15) + b"\x01" else raw.hex()


def test_an_admission_vote_funds_the_new_member_on_geth(geth_network: Sandbox) -> None:
    """The ledger code runs unchanged on geth: two governors admit a clinic through the gateway (quorum 2); the
    gateway sees MemberAdmitted and pays the clinic's gas by transfer, so its first transaction goes through."""
    ledger = geth_network.ledger()
    registry = ConsortiumRegistry(ledger)
    clinic = Account.create()
    application = MemberApplication(address=clinic.address, name="Geth Test Clinic", country="BJ", roles=["PROVIDER"], hpke_public_key=HpkePrivateKey.generate().public_key().to_bytes())
    proposal = registry.propose_admission(ledger.sender(geth_network.governors[0]), application)
    assert registry.approve(ledger.sender(geth_network.governors[1]), proposal)
    member = registry.member(clinic.address)
    assert member is not None and member.active
    w3 = geth_network.w3
    raw = signed_transfer(clinic, geth_network.settings.chain_id, 0, to=clinic.address)
    tx_hash = rpc(geth_network.settings.gateway_url, "eth_sendRawTransaction", [raw])["result"]
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["status"] == 1
    assert w3.eth.get_balance(clinic.address) >= 10 * 10**18


def test_datadir_secrets_are_private_and_the_genesis_is_ours(geth_network: Sandbox) -> None:
    s = geth_network.settings
    chain = s.chain_dir
    assert (chain.stat().st_mode & 0o777) == 0o700
    keyfiles = list((chain / "keystore").iterdir())
    assert len(keyfiles) == 1
    for secret in (chain / "password", keyfiles[0], chain / "genesis.json"):
        assert (secret.stat().st_mode & 0o777) == 0o600, secret
    genesis = json.loads((chain / "genesis.json").read_text())
    operator = load_or_create_operator(s.operator_file)
    assert genesis["config"]["chainId"] == s.chain_id and "bogotaTime" not in genesis["config"]
    assert {operator.address, operator.funding_account.address} <= set(genesis["alloc"])
    # geth loaded that genesis: the funding account's balance is there, less what it paid for top-ups.
    assert 0 < geth_network.w3.eth.get_balance(operator.funding_account.address) <= int(genesis["alloc"][operator.funding_account.address]["balance"], 16)
