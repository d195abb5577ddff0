"""Pick the newest intact chain snapshot to start anvil from.

Two writers keep snapshots: anvil itself (`--state`, every interval and on exit) and the gateway (atomically,
before it serves a receipt). After a crash either may be the newer one, and anvil's own file may be torn.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def snapshot_height(path: Path) -> int | None:
    """Best block number recorded in a snapshot, or None if it is missing or unreadable."""
    try:
        value = json.loads(path.read_bytes())["best_block_number"]
        return int(value, 0) if isinstance(value, str) else int(value)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def prepare_state_file(anvil_state: Path, durable_state: Path) -> int | None:
    """Make `anvil_state` the newest intact snapshot; returns its height (None for a fresh chain)."""
    anvil_height = snapshot_height(anvil_state)
    durable_height = snapshot_height(durable_state)
    if durable_height is not None and (anvil_height is None or durable_height > anvil_height):
        tmp = anvil_state.with_name(anvil_state.name + ".restore")
        shutil.copyfile(durable_state, tmp)
        tmp.replace(anvil_state)
        return durable_height
    if anvil_height is None and anvil_state.exists():
        anvil_state.rename(anvil_state.with_name(anvil_state.name + ".corrupt"))
    return anvil_height
