"""Which JSON-RPC methods clients may call through the gateway."""

from __future__ import annotations

# Standard reads, fee data, filters and the one way to change state: a signed raw transaction.
ALLOWED_METHODS: frozenset[str] = frozenset(
    {
        "web3_clientVersion",
        "web3_sha3",
        "net_version",
        "net_listening",
        "net_peerCount",
        "eth_chainId",
        "eth_syncing",
        "eth_blockNumber",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_blobBaseFee",
        "eth_feeHistory",
        "eth_getBalance",
        "eth_getCode",
        "eth_getStorageAt",
        "eth_getProof",
        "eth_getTransactionCount",
        "eth_call",
        "eth_estimateGas",
        "eth_createAccessList",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getBlockReceipts",
        "eth_getBlockTransactionCountByNumber",
        "eth_getBlockTransactionCountByHash",
        "eth_getTransactionByHash",
        "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionByBlockHashAndIndex",
        "eth_getTransactionReceipt",
        "eth_getLogs",
        "eth_newFilter",
        "eth_newBlockFilter",
        "eth_getFilterChanges",
        "eth_getFilterLogs",
        "eth_uninstallFilter",
        "eth_sendRawTransaction",
        "eth_accounts",
    }
)

# Namespaces that control or inspect the node itself: operator-only, on the private port.
OPERATOR_PREFIXES: tuple[str, ...] = ("anvil_", "evm_", "hardhat_", "debug_", "admin_", "personal_", "miner_", "txpool_", "ots_", "trace_")

# Methods that would let the node sign with keys it holds.
NODE_SIGNING_METHODS: frozenset[str] = frozenset({"eth_sendTransaction", "eth_sign", "eth_signTransaction", "eth_signTypedData_v4"})


# Simulation methods and the position of their state-override / block-override parameters. Overrides turn the
# node into a free simulator of arbitrary state for anyone who can reach the door, so clients may not send them.
OVERRIDE_PARAMS: dict[str, tuple[int, ...]] = {"eth_call": (2, 3), "eth_estimateGas": (2, 3), "eth_createAccessList": (2, 3)}


def refusal_reason(method: str) -> str | None:
    """None when `method` may pass; otherwise a sentence saying why it may not."""
    if method in ALLOWED_METHODS:
        return None
    if method in NODE_SIGNING_METHODS:
        return f"method {method} is refused: the node holds no client keys; sign locally and use eth_sendRawTransaction"
    if method.startswith(OPERATOR_PREFIXES):
        return f"method {method} is operator-only and not available through the permissioning gateway"
    return f"method {method} is not available through the permissioning gateway"


def params_refusal(method: str, params: list[object]) -> str | None:
    """None when an allowed method's parameters may pass; otherwise why not (state or block overrides)."""
    for position in OVERRIDE_PARAMS.get(method, ()):
        if len(params) > position and params[position] not in (None, {}):
            kind = "state" if position == 2 else "block"
            return f"{method} with {kind} overrides is refused: the permissioning gateway simulates only the chain as it is"
    return None
