"""`network up | down | reset` keep or wipe the ledger exactly as promised, including after kill -9 of geth.

Durability is geth's own (its datadir); the gateway no longer dumps the chain. anvil, kept for tests that travel
in time, runs in memory and makes no such promise.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hexbytes import HexBytes

from ledger.chain import connect
from network.launcher import LocalNetwork
from network.sandbox import sandbox_network
from tests.conftest import throwaway_account


@pytest.fixture
def own_network(tmp_path: Path) -> Iterator[LocalNetwork]:
    with sandbox_network(tmp_path, "healthsilk-test", engine="geth") as sandbox:
        yield sandbox.network


def _send_transfers(network: LocalNetwork, count: int) -> list[HexBytes]:
    """Member transactions through the gateway; returns hashes whose receipts the client has seen."""
    w3 = connect(network.settings.gateway_url)
    governor = throwaway_account("governor-0")
    hashes = []
    for _ in range(count):
        nonce = w3.eth.get_transaction_count(governor.address)
        tx = {"to": governor.address, "value": 0, "gas": 21000, "maxFeePerGas": 50 * 10**9, "maxPriorityFeePerGas": 10**9, "nonce": nonce, "chainId": network.settings.chain_id}
        tx_hash = w3.eth.send_raw_transaction(governor.sign_transaction(tx).raw_transaction)
        assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)["status"] == 1
        hashes.append(tx_hash)
    return hashes


def _receipts(network: LocalNetwork, hashes: list[HexBytes]) -> list[tuple[int, HexBytes, int]]:
    """(block number, block hash, status) of each transaction; raises if one is unknown to the node."""
    w3 = connect(network.settings.gateway_url)
    return [(r["blockNumber"], r["blockHash"], r["status"]) for r in (w3.eth.get_transaction_receipt(tx_hash) for tx_hash in hashes)]


def _receipts_present(network: LocalNetwork, hashes: list[HexBytes]) -> bool:
    return all(status == 1 for _, _, status in _receipts(network, hashes))


def test_up_twice_is_harmless(own_network: LocalNetwork) -> None:
    pids = {name: info["pid"] for name, info in own_network.status().items()}
    report = own_network.up(supervise=False)
    assert report.started == {"geth": None, "ipfs": None, "gateway": None}
    assert report.deployed == []
    assert {name: info["pid"] for name, info in own_network.status().items()} == pids


def test_down_then_up_keeps_every_receipt(own_network: LocalNetwork) -> None:
    hashes = _send_transfers(own_network, 3)
    registry = own_network.settings.deployments_file.read_text()
    before = _receipts(own_network, hashes)
    assert sorted(own_network.down()) == ["gateway", "geth", "ipfs"]
    assert all(info["pid"] is None for info in own_network.status().values())
    report = own_network.up(supervise=False)
    assert report.deployed == []  # nothing redeployed
    assert report.restored_height is not None and report.restored_height >= before[-1][0]
    assert own_network.settings.deployments_file.read_text() == registry
    assert _receipts(own_network, hashes) == before


def test_kill_9_of_geth_loses_no_receipt(own_network: LocalNetwork) -> None:
    """Killed the instant the last receipt was seen: every receipt comes back in the same block (no re-mining)."""
    hashes = _send_transfers(own_network, 10)
    before = _receipts(own_network, hashes)
    own_network.chain.kill_hard()  # no chance to flush anything
    report = own_network.up(supervise=False)
    assert report.started["geth"] is not None and report.started["gateway"] is None
    assert report.restored_height == before[-1][0]
    assert _receipts(own_network, hashes) == before
    # The chain goes on from there.
    assert _receipts_present(own_network, _send_transfers(own_network, 1))


def test_down_stops_only_what_up_started(own_network: LocalNetwork) -> None:
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        own_network.down()
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_anvil_runs_in_memory(tmp_path: Path) -> None:
    """anvil (tests that travel in time) keeps no chain on disk: after down and up the contracts are deployed anew."""
    with sandbox_network(tmp_path, "healthsilk-test", engine="anvil") as sandbox:
        network = sandbox.network
        assert network.up(supervise=False).started == {"anvil": None, "ipfs": None, "gateway": None}
        network.down()
        assert not network.settings.chain_dir.exists()
        report = network.up(supervise=False)
        assert report.restored_height is None
        assert "ConsortiumRegistry" in report.deployed


def test_reset_wipes_the_data(own_network: LocalNetwork) -> None:
    root = own_network.settings.root
    assert (root / "deployments").exists()
    own_network.reset()
    assert not root.exists()
    assert all(info["pid"] is None for info in own_network.status().values())
