"""Which chain node `network up` runs (settings.chain_engine), and the check after it starts.

geth is the default and keeps its chain in its datadir; anvil runs in memory, for tests that travel in time
or snapshot and revert. Both get the same chain id, operator and private port, so the gateway, the
migrations and the ledger code see the same JSON-RPC on either.
"""

from __future__ import annotations

from network.anvil import AnvilNode
from network.geth import GethNode
from network.operator import Operator
from network.processes import ProcessError
from network.settings import NetworkSettings

ChainNode = GethNode | AnvilNode


class ChainNodeError(ProcessError):
    """The chain node cannot be used as configured; the message says what to do."""


def chain_node(settings: NetworkSettings, operator: Operator) -> ChainNode:
    s = settings
    if s.chain_engine == "anvil":
        return AnvilNode(s.anvil_binary, s.chain_id, s.node_port, operator, s.block_gas_limit, s.base_fee_wei)
    legacy_state = s.chain_dir / "state.json"
    if legacy_state.exists():
        raise ChainNodeError(
            f"{s.root} holds an anvil state dump ({legacy_state}) from before the chain ran on geth; "
            "geth cannot import it. Start over with `healthsilk network reset`, or keep it with HEALTHSILK_CHAIN_ENGINE=anvil "
            "(in memory: the dump is not loaded)."
        )
    return GethNode(s.geth_binary, s.chain_dir, s.chain_id, s.node_port, operator, s.block_gas_limit, s.base_fee_wei, s.geth_cache_mb)


def check_started_chain(settings: NetworkSettings, chain_id: int, head: int) -> int | None:
    """Raise unless the node serves the configured chain; returns the height a resumed chain restarted at."""
    if chain_id != settings.chain_id:
        raise ChainNodeError(
            f"the {settings.chain_engine} node on {settings.node_url} serves chain id {chain_id}, not {settings.chain_id}: "
            f"its datadir {settings.chain_dir} holds another chain; `healthsilk network reset` starts over"
        )
    return head if head > 0 else None
