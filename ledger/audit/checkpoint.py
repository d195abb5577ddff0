"""Saving a replay's progress so the next audit only replays the blocks after it.

A checkpoint holds the rebuilt state, the figures and the event-level violations as of one block, with that
block's hash. It is used only for the same chain, contracts and audited start block, and only while its block
is still canonical (a revert or reorg since makes the audit start over, which it reports). The end-block
checks (views, --deep) are never checkpointed: they describe the end block, so they are always re-run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.exceptions import BlockNotFound

from ledger.audit.state import AuditState
from ledger.audit.stats import Stats
from ledger.audit.violations import Violation

CHECKPOINT_FORMAT = "healthsilk-audit-checkpoint/2"  # /2: batched erasures keyed by leaf


class CheckpointUnusable(ValueError):
    """The checkpoint cannot be resumed from; the message says why (the audit then replays in full)."""


@dataclass
class Checkpoint:
    chain_id: int
    contracts: dict[str, str]
    from_block: int
    block: int
    block_hash: str
    state: AuditState
    stats: Stats
    violations: list[Violation]

    def save(self, path: Path) -> Path:
        """Write atomically (tmp file, fsync, rename): a crash leaves the previous checkpoint intact."""
        body: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "chain_id": self.chain_id,
            "contracts": self.contracts,
            "from_block": self.from_block,
            "block": self.block,
            "block_hash": self.block_hash,
            "state": self.state.to_json(),
            "stats": self.stats.to_json(),
            "violations": [v.as_json() for v in self.violations],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w") as handle:
            json.dump(body, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        return path


def load_checkpoint(path: Path, *, w3: Web3, chain_id: int, contracts: dict[str, str], from_block: int, to_block: int) -> Checkpoint:
    """The checkpoint at `path` if it fits this audit; CheckpointUnusable saying why otherwise."""
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointUnusable(f"cannot read {path}: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointUnusable(f"{path} is not a {CHECKPOINT_FORMAT} file")
    if body["chain_id"] != chain_id or body["contracts"] != contracts:
        raise CheckpointUnusable(f"{path} was written for chain {body['chain_id']} / other contract addresses")
    if body["from_block"] != from_block:
        raise CheckpointUnusable(f"{path} audits from block {body['from_block']}, this audit from {from_block}")
    block = int(body["block"])
    if block > to_block:
        raise CheckpointUnusable(f"{path} is at block {block}, past the end block {to_block}")
    try:
        canonical = "0x" + bytes(w3.eth.get_block(block)["hash"]).hex()
    except BlockNotFound:
        canonical = ""
    if canonical != body["block_hash"]:
        raise CheckpointUnusable(f"checkpoint block {block} is no longer canonical (revert or reorg)")
    try:
        return Checkpoint(
            chain_id=chain_id, contracts=contracts, from_block=from_block, block=block, block_hash=body["block_hash"],
            state=AuditState.from_json(body["state"]), stats=Stats.from_json(body["stats"]),
            violations=[Violation.from_json(v) for v in body["violations"]],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointUnusable(f"{path} is damaged: {exc}") from None
