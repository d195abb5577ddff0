"""The gateway survives hostile bodies and admits only what a member may send: no set-code authorisations, no
unprotected transactions, no simulations of a state that isn't the chain's."""

from __future__ import annotations

import httpx
import pytest
from eth_account import Account

from tests.conftest import RunningNetwork, throwaway_account
from tests.support.rpc import rpc

DEEP = 100_000  # about 200 KB: once crashed the gateway in the stdlib json scanner


def deep_body(depth: int = DEEP) -> bytes:
    return b"[" * depth + b"]" * depth


def test_deeply_nested_body_is_refused_and_the_gateway_stays_up(local_network: RunningNetwork) -> None:
    url = local_network.settings.gateway_url
    body = deep_body()
    assert len(body) <= local_network.settings.max_request_bytes, "the body must get past the size limit to reach the parser"
    for payload in (body, b'{"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": ' + body + b"}"):
        reply = httpx.post(url, content=payload, headers={"Content-Type": "application/json"}, timeout=30).json()
        assert reply["error"]["code"] == -32700 and "1,024 levels" in reply["error"]["message"]
    assert int(rpc(url, "eth_chainId")["result"], 16) == local_network.settings.chain_id


def test_nesting_within_the_limit_is_parsed(local_network: RunningNetwork) -> None:
    replies = httpx.post(local_network.settings.gateway_url, content=deep_body(1000), headers={"Content-Type": "application/json"}, timeout=30).json()
    assert [reply["error"]["code"] for reply in replies] == [-32600]  # parsed: a batch of one request that isn't one


def _fees() -> dict[str, int]:
    return {"maxFeePerGas": 50 * 10**9, "maxPriorityFeePerGas": 10**9}


def test_set_code_transaction_is_refused_and_the_outsider_gets_no_code(chain: RunningNetwork) -> None:
    governor, outsider = chain.governors[0], throwaway_account("gateway-hostile/7702-outsider")
    w3, chain_id = chain.w3, chain.settings.chain_id
    authorization = Account.sign_authorization({"chainId": chain_id, "address": chain.ledger().contract("ConsentLedger").address, "nonce": 0}, outsider.key)
    tx = {"type": 4, "to": governor.address, "value": 0, "gas": 100_000, "nonce": w3.eth.get_transaction_count(governor.address), "chainId": chain_id, "authorizationList": [authorization], **_fees()}
    raw = governor.sign_transaction(tx).raw_transaction.to_0x_hex()
    height = w3.eth.block_number
    reply = rpc(chain.settings.gateway_url, "eth_sendRawTransaction", [raw])
    assert reply["error"]["code"] == -32007 and "EIP-7702" in reply["error"]["message"] and governor.address in reply["error"]["message"]
    assert w3.eth.block_number == height and w3.eth.get_code(outsider.address) == b""


def test_transaction_without_replay_protection_is_refused(chain: RunningNetwork) -> None:
    governor = chain.governors[0]
    w3 = chain.w3
    tx = {"to": governor.address, "value": 0, "gas": 21000, "gasPrice": 50 * 10**9, "nonce": w3.eth.get_transaction_count(governor.address)}  # no chainId
    signed = governor.sign_transaction(tx)
    assert signed.v in (27, 28)
    reply = rpc(chain.settings.gateway_url, "eth_sendRawTransaction", [signed.raw_transaction.to_0x_hex()])
    assert reply["error"]["code"] == -32007 and "EIP-155" in reply["error"]["message"]
    assert w3.eth.get_transaction_count(governor.address) == tx["nonce"]


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("eth_call", [{"to": "0x" + "11" * 20}, "latest", {"0x" + "11" * 20: {"code": "0x6001600055"}}]),
        ("eth_call", [{"to": "0x" + "11" * 20}, "latest", None, {"time": "0x1"}]),
        ("eth_estimateGas", [{"to": "0x" + "11" * 20}, "latest", {"0x" + "22" * 20: {"balance": "0xffffffffffff"}}]),
        ("eth_createAccessList", [{"to": "0x" + "11" * 20}, "latest", {"0x" + "22" * 20: {"balance": "0x1"}}]),
    ],
)
def test_simulations_with_overrides_are_refused_alone_and_in_batches(local_network: RunningNetwork, method: str, params: list[object]) -> None:
    url = local_network.settings.gateway_url
    reply = rpc(url, method, params)
    assert reply["error"]["code"] == -32602 and "overrides" in reply["error"]["message"]
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, {"jsonrpc": "2.0", "id": 2, "method": method, "params": params}]
    replies = {item["id"]: item for item in httpx.post(url, json=batch, timeout=30).json()}
    assert "result" in replies[1] and replies[2]["error"]["code"] == -32602


def test_plain_simulations_still_pass(local_network: RunningNetwork) -> None:
    url = local_network.settings.gateway_url
    assert rpc(url, "eth_call", [{"to": "0x" + "11" * 20}, "latest"])["result"] == "0x"
    assert rpc(url, "eth_call", [{"to": "0x" + "11" * 20}, "latest", {}])["result"] == "0x"
