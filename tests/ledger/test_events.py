"""EventReader against the real network: chunked scans equal one big scan, and range limits are survived."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from eth_account import Account

from ledger.chain import Ledger, connect
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.events import EventReader, is_range_error
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork

BESU_RANGE_ERROR = {"code": -32005, "message": "Requested range exceeds maximum RPC range limit"}


def _grant_and_revoke(ledger: Ledger, network: RunningNetwork, patients: int) -> None:
    """A few ConsentGranted / ConsentRevoked events in separate blocks."""
    consents = ConsentLedger(ledger)
    relayer = ledger.sender(network.governors[0])
    now = int(ledger.w3.eth.get_block("latest")["timestamp"])
    grantee = network.governors[1].address
    for _ in range(patients):
        patient = Account.create()
        terms = ConsentTerms(grantee=grantee, categories=Category.LAB.bit, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 3600)
        grant = consents.grant_message(patient.address, terms, deadline=now + 600)
        consents.relay(relayer, grant, grant.sign(patient))
    revoke = consents.revoke_message(patient.address, grantee, deadline=now + 600)
    consents.relay(relayer, revoke, revoke.sign(patient))


def test_chunked_reads_equal_one_big_range(chain: RunningNetwork) -> None:
    ledger = chain.ledger()
    _grant_and_revoke(ledger, chain, patients=3)
    contracts = [ledger.contract("ConsentLedger"), ledger.contract("ConsortiumRegistry")]
    head = ledger.w3.eth.block_number

    whole = EventReader(ledger.w3, max_block_range=1_000_000)
    expected = whole.read(contracts, 0, head)
    assert whole.requests == 1
    names = [event.name for event in expected]
    assert names.count("MemberAdmitted") == 3 and names.count("ConsentGranted") == 3 and names.count("ConsentRevoked") == 1
    assert [event.position for event in expected] == sorted(event.position for event in expected)

    for size in (1, 2, 3, 7):
        reader = EventReader(ledger.w3, max_block_range=size)
        assert reader.read(contracts, 0, head) == expected
        assert reader.requests == -(-(head + 1) // size)  # ceil: every chunk asked once

    granted = expected[names.index("ConsentGranted")]
    assert granted.args["grantee"] == chain.governors[1].address and granted.args["categories"] == Category.LAB.bit
    assert len(granted.args["consentId"]) == 32 and len(granted.transaction_hash) == 32


def test_event_filter_and_sub_ranges(chain: RunningNetwork) -> None:
    ledger = chain.ledger()
    _grant_and_revoke(ledger, chain, patients=2)
    contracts = [ledger.contract("ConsentLedger"), ledger.contract("ConsortiumRegistry")]
    head = ledger.w3.eth.block_number
    reader = EventReader(ledger.w3, max_block_range=2)
    everything = reader.read(contracts, 0, head)
    only = reader.read(contracts, 0, head, ["ConsentRevoked", "MemberAdmitted"])
    assert only == [event for event in everything if event.name in ("ConsentRevoked", "MemberAdmitted")]
    split = head // 2
    assert reader.read(contracts, 0, split) + reader.read(contracts, split + 1, head) == everything
    assert reader.read(contracts, head + 1, head) == []  # an empty range is not an error


def test_filtered_reads_match_filtering_everything(chain: RunningNetwork) -> None:
    ledger = chain.ledger()
    _grant_and_revoke(ledger, chain, patients=3)
    contract = ledger.contract("ConsentLedger")
    head = ledger.w3.eth.block_number
    granted = EventReader(ledger.w3).read(contract, 0, head, ["ConsentGranted"])
    patients = [event.args["patient"] for event in granted]
    reader = EventReader(ledger.w3, max_block_range=2)
    assert reader.read_filtered(contract, "ConsentGranted", 0, head, patient=patients[1]) == [granted[1]]
    assert reader.read_filtered(contract, "ConsentGranted", 0, head, patient=[patients[0], patients[2]]) == [granted[0], granted[2]]
    assert reader.read_filtered(contract, "ConsentGranted", 0, head, grantee=chain.governors[1].address) == granted
    assert reader.read_filtered(contract, "ConsentGranted", 0, head, grantee=chain.governors[0].address) == []
    assert ledger.events("ConsentLedger", "ConsentGranted", patient=patients[2]) == [granted[2]]
    with pytest.raises(ValueError, match="no indexed argument"):
        reader.read_filtered(contract, "ConsentGranted", 0, head, categories=4)


def test_bad_arguments_are_refused(local_network: RunningNetwork) -> None:
    ledger = local_network.ledger()
    with pytest.raises(ValueError, match="max_block_range"):
        EventReader(ledger.w3, max_block_range=0)
    reader = EventReader(ledger.w3)
    with pytest.raises(ValueError, match="unknown event"):
        reader.read(ledger.contract("ConsentLedger"), 0, 1, ["NoSuchEvent"])
    with pytest.raises(ValueError, match="invalid block range"):
        reader.read(ledger.contract("ConsentLedger"), 5, 2)
    assert reader.requests == 0


class _RangeLimitedProxy:
    """Forwards JSON-RPC to the real gateway but refuses eth_getLogs over more than `limit` blocks, as Besu does
    with --rpc-max-logs-range (anvil has no such limit). Every answer it does give comes from the real node."""

    def __init__(self, upstream: str, limit: int) -> None:
        self.upstream, self.limit, self.refused = upstream, limit, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reply = proxy.refusal(body) or httpx.post(proxy.upstream, json=body, timeout=30).json()
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def refusal(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if body.get("method") != "eth_getLogs":
            return None
        query = body["params"][0]
        if int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1 <= self.limit:
            return None
        self.refused += 1
        return {"jsonrpc": "2.0", "id": body["id"], "error": BESU_RANGE_ERROR}


@pytest.fixture
def range_limited(chain: RunningNetwork) -> Iterator[_RangeLimitedProxy]:
    proxy = _RangeLimitedProxy(chain.settings.gateway_url, limit=3)
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
        thread.join(timeout=5)


def test_halves_the_chunk_when_the_node_refuses_a_range(chain: RunningNetwork, range_limited: _RangeLimitedProxy) -> None:
    ledger = chain.ledger()
    _grant_and_revoke(ledger, chain, patients=3)
    contracts = [ledger.contract("ConsentLedger"), ledger.contract("ConsortiumRegistry")]
    head = ledger.w3.eth.block_number
    expected = EventReader(ledger.w3).read(contracts, 0, head)

    limited = EventReader(connect(range_limited.url), max_block_range=1000)
    started = time.monotonic()
    assert limited.read(contracts, 0, head) == expected
    assert range_limited.refused > 0 and limited.chunk_size <= range_limited.limit
    assert limited.chunk_size <= limited.max_block_range
    assert time.monotonic() - started < 30


def test_range_errors_are_recognised() -> None:
    from web3.exceptions import Web3RPCError

    for message in ("Requested range exceeds maximum RPC range limit", "block range too large, max range: 1000", "query returned more than 10000 results", "Log response size exceeded"):
        assert is_range_error(Web3RPCError(message, rpc_response={"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": message}}))
    assert not is_range_error(Web3RPCError("invalid params: address"))


def test_decoding_matches_web3_process_log(chain: RunningNetwork) -> None:
    """The reader's ABI decoder gives exactly what web3's own (slower) event decoding gives."""
    ledger = chain.ledger()
    _grant_and_revoke(ledger, chain, patients=2)
    contracts = {contract.address: contract for contract in (ledger.contract("ConsentLedger"), ledger.contract("ConsortiumRegistry"))}
    head = ledger.w3.eth.block_number
    ours = EventReader(ledger.w3).read(list(contracts.values()), 0, head)
    theirs = []
    for log in ledger.w3.eth.get_logs({"address": list(contracts), "fromBlock": 0, "toBlock": head}):
        contract = contracts[log["address"]]
        for name in {entry["name"] for entry in contract.abi if entry.get("type") == "event"}:
            event = contract.events[name]()
            if log["topics"][0] == bytes(event.topic if isinstance(event.topic, bytes) else bytes.fromhex(str(event.topic)[2:])):
                data = event.process_log(log)
                theirs.append((name, {key: bytes(value) if isinstance(value, bytes) else value for key, value in data["args"].items()}, log["blockNumber"], log["logIndex"]))
    assert len(ours) == len(theirs) >= 9
    assert {event.name for event in ours} >= {"MemberAdmitted", "RoleGranted", "ConsentGranted", "ConsentRevoked"}
    assert [(event.name, event.args, event.block_number, event.log_index) for event in ours] == theirs
