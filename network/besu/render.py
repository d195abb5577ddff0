"""Render the Besu files of a QBFT consortium: genesis.json, static-nodes.json, node allowlist, config.toml.

Choices (and why):
- Forks: every block-numbered milestone at 0 through London, then `shanghaiTime`/`cancunTime` at 0,
  because the contracts are compiled for evmVersion "cancun" (PUSH0, MCOPY, TSTORE). Prague stays off by
  default: Besu on QBFT long required the Prague system contracts to be predeployed in `alloc`
  (besu issue #9409, PR #9623), and nothing here needs Prague opcodes.
- Gas: a free-gas network (`zeroBaseFee`, base fee 0, `min-gas-price=0` on every node). Access is
  controlled by the accounts allowlist and the contracts' registry checks, not by ether balances, so
  members need no funding and there is no `alloc`.
- Network: static peers only (`discovery-enabled=false`, no bootnodes, `nat-method="NONE"`), P2P bound
  to the node's own loopback/private address, JSON-RPC on 127.0.0.1 behind the permissioning gateway.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from network.besu.extradata import encode_qbft_extra_data
from network.besu.keys import NodeKey

BFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"  # "ctical byzantine fault tolerance"
ZERO_HASH = "0x" + "00" * 32
ZERO_ADDRESS = "0x" + "00" * 20
BLOCK_MILESTONES = (
    "homesteadBlock",
    "eip150Block",
    "eip155Block",
    "eip158Block",
    "byzantiumBlock",
    "constantinopleBlock",
    "petersburgBlock",
    "istanbulBlock",
    "muirGlacierBlock",
    "berlinBlock",
    "londonBlock",
)
TIME_MILESTONES = {"cancun": ("shanghaiTime", "cancunTime"), "prague": ("shanghaiTime", "cancunTime", "pragueTime")}
RPC_APIS = ("ETH", "NET", "WEB3", "QBFT", "PERM")  # PERM: perm_reloadPermissionsFromFile after an allowlist refresh
RPC_MAX_LOGS_RANGE = 5000  # Besu's default since 23.1.2 (1000 before); the event reader's chunk must not exceed it


@dataclass(frozen=True)
class QbftParameters:
    chain_id: int = 7331
    block_period_seconds: int = 2
    epoch_length: int = 30000
    request_timeout_seconds: int = 4  # Besu's guidance: at least twice the block period
    gas_limit: int = 30_000_000
    evm_fork: str = "cancun"

    def validate(self) -> None:
        if self.chain_id < 1:
            raise ValueError("chain id must be positive")
        if self.block_period_seconds < 1 or self.epoch_length < 1:
            raise ValueError("block period and epoch length must be positive")
        if self.request_timeout_seconds < 2 * self.block_period_seconds:
            raise ValueError("request timeout should be at least twice the block period, or rounds change needlessly")
        if self.evm_fork not in TIME_MILESTONES:
            raise ValueError(f"evm fork must be one of {sorted(TIME_MILESTONES)}")


def render_genesis(validators: Sequence[str], params: QbftParameters) -> dict[str, Any]:
    """The genesis document (as a dict) for a QBFT network whose initial validators are `validators`."""
    params.validate()
    config: dict[str, Any] = {"chainId": params.chain_id}
    config.update({name: 0 for name in BLOCK_MILESTONES})
    config.update({name: 0 for name in TIME_MILESTONES[params.evm_fork]})
    config["zeroBaseFee"] = True
    config["qbft"] = {
        "blockperiodseconds": params.block_period_seconds,
        "epochlength": params.epoch_length,
        "requesttimeoutseconds": params.request_timeout_seconds,
    }
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": "0x0",
        "extraData": encode_qbft_extra_data(validators),
        "gasLimit": hex(params.gas_limit),
        "difficulty": "0x1",
        "mixHash": BFT_MIX_HASH,
        "coinbase": ZERO_ADDRESS,
        "baseFeePerGas": "0x0",
        "blobGasUsed": "0x0",
        "excessBlobGas": "0x0",
        "parentBeaconBlockRoot": ZERO_HASH,
        "alloc": {},
    }


def render_json(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"


def render_static_nodes(nodes: Sequence[NodeKey]) -> str:
    return render_json([node.enode for node in nodes])


def render_nodes_allowlist(nodes: Sequence[NodeKey]) -> str:
    entries = ",\n".join(f"  {json.dumps(node.enode)}" for node in nodes)
    return f"# Besu nodes allowlist: the consortium's validator nodes (peers outside it are refused).\nnodes-allowlist=[\n{entries}\n]\n"


@dataclass(frozen=True)
class NodeFiles:
    """Where one node finds its files, as written into its config.toml (relative to the run directory)."""

    data_path: str
    genesis_file: str
    key_file: str
    static_nodes_file: str
    accounts_allowlist_file: str
    nodes_allowlist_file: str


def render_node_config(index: int, total: int, node: NodeKey, rpc_port: int, files: NodeFiles, label: str) -> str:
    """config.toml for node `index` of `total` (keys are Besu CLI option names without the dashes)."""

    def string(value: str) -> str:
        return json.dumps(value)  # a JSON string of printable text is a valid TOML basic string

    apis = ", ".join(string(api) for api in RPC_APIS)
    return f"""# healthsilk Besu QBFT validator node-{index} of {total}. {label}
# Generated by network/besu/generate.py; regenerate instead of editing. Start it from the run directory:
#   besu --config-file=<this file>

data-path={string(files.data_path)}
genesis-file={string(files.genesis_file)}
node-private-key-file={string(files.key_file)}
sync-mode="FULL"

# P2P: the consortium's static peers only; no discovery, no bootnodes, no NAT traversal.
p2p-enabled=true
p2p-host={string(node.host)}
p2p-interface={string(node.host)}
p2p-port={node.p2p_port}
discovery-enabled=false
nat-method="NONE"
static-nodes-file={string(files.static_nodes_file)}

# JSON-RPC on loopback only: clients reach it through the healthsilk permissioning gateway, never directly.
rpc-http-enabled=true
rpc-http-host="127.0.0.1"
rpc-http-port={rpc_port}
rpc-http-api=[{apis}]
host-allowlist=["localhost", "127.0.0.1"]
rpc-ws-enabled=false
graphql-http-enabled=false
metrics-enabled=false
# eth_getLogs spans at most this many blocks per call; the Python event reader chunks below it.
rpc-max-logs-range={RPC_MAX_LOGS_RANGE}

# Free gas (genesis zeroBaseFee): a node with a higher minimum silently drops zero-price transactions.
min-gas-price=0

# Permissioning: senders must be active registry members; peers must be consortium validators.
permissions-accounts-config-file-enabled=true
permissions-accounts-config-file={string(files.accounts_allowlist_file)}
permissions-nodes-config-file-enabled=true
permissions-nodes-config-file={string(files.nodes_allowlist_file)}
"""
