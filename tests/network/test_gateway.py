"""The permissioning gateway: only standard reads and members' signed transactions pass."""

from __future__ import annotations

import httpx
import pytest
from eth_account import Account

from tests.conftest import RunningNetwork
from tests.support.rpc import rpc, signed_transfer

OPERATOR_METHODS = ["anvil_setBalance", "anvil_setStorageAt", "evm_mine", "evm_snapshot", "hardhat_impersonateAccount", "debug_traceTransaction", "admin_nodeInfo", "personal_unlockAccount", "anvil_dumpState"]


@pytest.mark.parametrize("method", OPERATOR_METHODS)
def test_operator_methods_are_refused_with_a_clear_error(local_network: RunningNetwork, method: str) -> None:
    reply = rpc(local_network.settings.gateway_url, method, [])
    assert reply["error"]["code"] == -32601
    assert method in reply["error"]["message"] and "operator-only" in reply["error"]["message"]


def test_node_signing_is_refused(local_network: RunningNetwork) -> None:
    reply = rpc(local_network.settings.gateway_url, "eth_sendTransaction", [{"from": local_network.governors[0].address}])
    assert "sign locally" in reply["error"]["message"]


def test_unknown_method_is_refused(local_network: RunningNetwork) -> None:
    assert "not available" in rpc(local_network.settings.gateway_url, "eth_doesNotExist")["error"]["message"]


def test_reads_pass_and_node_accounts_stay_hidden(local_network: RunningNetwork) -> None:
    url = local_network.settings.gateway_url
    assert int(rpc(url, "eth_chainId")["result"], 16) == local_network.settings.chain_id
    assert rpc(url, "eth_accounts")["result"] == []
    # The operator's account exists on the private port, but the gateway never lends it out.
    assert rpc(local_network.settings.anvil_url, "eth_accounts")["result"]


def test_batch_is_answered_item_by_item(local_network: RunningNetwork) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "evm_mine", "params": []},
        "garbage",
    ]
    replies = httpx.post(local_network.settings.gateway_url, json=batch).json()
    assert [reply["id"] for reply in replies] == [1, 2, None]
    assert "result" in replies[0]
    assert replies[1]["error"]["code"] == -32601
    assert replies[2]["error"]["code"] == -32600


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"{not json", -32700), (b"[]", -32600), (b"42", -32600), (b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":{}}', -32600), (b"\xff\xfe", -32700)],
)
def test_garbage_gets_a_json_rpc_error(local_network: RunningNetwork, body: bytes, code: int) -> None:
    reply = httpx.post(local_network.settings.gateway_url, content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 200
    assert reply.json()["error"]["code"] == code


def test_oversized_body_is_refused(local_network: RunningNetwork) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["' + b"a" * local_network.settings.max_request_bytes + b'"]}'
    reply = httpx.post(local_network.settings.gateway_url, content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 413
    assert "larger than" in reply.json()["error"]["message"]


def test_gateway_survives_abuse(local_network: RunningNetwork) -> None:
    url = local_network.settings.gateway_url
    for body in (b"", b"null", b'{"jsonrpc":"2.0"}', b'{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":[1,2]}'):
        httpx.post(url, content=body)
    assert "result" in rpc(url, "eth_blockNumber")


@pytest.mark.parametrize("raw", ["0x", "0xdeadbeef", "not-hex", "0x02f8", 7])
def test_malformed_raw_transaction_is_refused(local_network: RunningNetwork, raw: object) -> None:
    reply = rpc(local_network.settings.gateway_url, "eth_sendRawTransaction", [raw])
    assert reply["error"]["code"] == -32602
    assert "eth_sendRawTransaction" in reply["error"]["message"] or "malformed" in reply["error"]["message"]


def test_non_member_transaction_is_refused_naming_the_sender(chain: RunningNetwork) -> None:
    outsider = Account.create()
    url = chain.settings.gateway_url
    height = rpc(url, "eth_blockNumber")["result"]
    chain.operator_w3.provider.make_request("anvil_setBalance", [outsider.address, hex(10**18)])  # funds are not the obstacle
    reply = rpc(url, "eth_sendRawTransaction", [signed_transfer(outsider, chain.settings.chain_id, 0)])
    assert reply["error"]["code"] == -32007
    assert outsider.address in reply["error"]["message"] and "not a consortium member" in reply["error"]["message"]
    assert rpc(url, "eth_blockNumber")["result"] == height
    assert int(rpc(url, "eth_getTransactionCount", [outsider.address, "latest"])["result"], 16) == 0


@pytest.mark.parametrize("typed", [True, False])
def test_member_transaction_is_accepted(chain: RunningNetwork, typed: bool) -> None:
    governor = chain.governors[0]
    w3 = chain.w3
    tx = {"to": governor.address, "value": 0, "gas": 21000, "nonce": w3.eth.get_transaction_count(governor.address), "chainId": chain.settings.chain_id}
    tx |= {"maxFeePerGas": 50 * 10**9, "maxPriorityFeePerGas": 10**9} if typed else {"gasPrice": 50 * 10**9}
    tx_hash = w3.eth.send_raw_transaction(governor.sign_transaction(tx).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)["status"] == 1


def test_members_are_funded_by_the_operator(local_network: RunningNetwork) -> None:
    w3 = local_network.w3
    # Any gas-related request makes the gateway catch up with admissions and top members up.
    rpc(local_network.settings.gateway_url, "eth_estimateGas", [{"from": local_network.governors[1].address, "to": local_network.governors[1].address}])
    assert all(w3.eth.get_balance(governor.address) >= 10 * 10**18 for governor in local_network.governors)


def test_base_fee_is_not_zero(local_network: RunningNetwork) -> None:
    assert local_network.w3.eth.get_block("latest")["baseFeePerGas"] > 0


def test_member_is_topped_up_again_when_funds_vanished(chain: RunningNetwork) -> None:
    """An operator revert can take a top-up back without a new block; the next request restores it."""
    governor = chain.governors[2]
    rpc(chain.settings.gateway_url, "eth_estimateGas", [{"from": governor.address, "to": governor.address}])
    chain.operator_w3.provider.make_request("anvil_setBalance", [governor.address, "0x0"])
    w3 = chain.w3
    raw = signed_transfer(governor, chain.settings.chain_id, w3.eth.get_transaction_count(governor.address), to=governor.address)
    tx_hash = rpc(chain.settings.gateway_url, "eth_sendRawTransaction", [raw])["result"]
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)["status"] == 1


def test_large_batch_keeps_order_and_refuses_per_item(local_network: RunningNetwork) -> None:
    governor = local_network.governors[0].address
    batch = [{"jsonrpc": "2.0", "id": index, "method": "eth_getBalance", "params": [governor, "latest"]} for index in range(300)]
    batch[150] = {"jsonrpc": "2.0", "id": 150, "method": "anvil_mine", "params": []}
    batch[151] = {"jsonrpc": "2.0", "id": 151, "method": "eth_accounts", "params": []}
    replies = httpx.post(local_network.settings.gateway_url, json=batch).json()
    assert [reply["id"] for reply in replies] == list(range(300))
    assert replies[150]["error"]["code"] == -32601
    assert replies[151]["result"] == []
    assert all(int(reply["result"], 16) > 0 for index, reply in enumerate(replies) if index not in (150, 151))


def test_batch_with_duplicate_ids_is_answered_item_by_item(local_network: RunningNetwork) -> None:
    batch = [{"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": []}, {"jsonrpc": "2.0", "id": 7, "method": "eth_blockNumber", "params": []}]
    replies = httpx.post(local_network.settings.gateway_url, json=batch).json()
    assert int(replies[0]["result"], 16) == local_network.settings.chain_id
    assert replies[1]["result"].startswith("0x")
