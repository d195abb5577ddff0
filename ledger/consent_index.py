"""A local, event-driven index of consents and member status that answers access decisions in microseconds.

The index replays ConsentGranted / ConsentRevoked (ConsentLedger) and MemberAdmitted / MemberSuspended /
MemberReinstated (ConsortiumRegistry) into memory and decides exactly as `ConsentLedger.isPermitted` does
at the index's synced head block: consent active, head timestamp in [validFrom, validUntil), every category
and purpose bit covered (both masks non-zero), grantee an active member.

Freshness guarantee (what `decide` promises):
  * A decision is never older than the newest head this index has observed. The follower thread (or any
    sync) records the node's head; when it has seen a block the index has not applied yet (or a different
    block at the synced height), the next `decide` syncs before answering. With the follower running
    (`start_following`), decisions therefore lag the node by at most one poll interval (~0.2 s).
  * `decide(..., max_staleness_blocks=k)` asks the node for its head first (one RPC) and syncs when the
    index is more than k blocks behind or the head was replaced; k=0 answers from the node's head as of
    the call, so a revocation mined in block N is honoured by every such decision made after N is mined.
  * Every `Decision` names the block it was decided at (`as_of_block`); eth_call of `isPermitted` at
    that block gives the same answer.
Reverts and reorgs: before applying new blocks the index checks that its last synced block is still
canonical; if not, it rebuilds from the contracts' deployment blocks. Restarts: `save_checkpoint` writes the
state and the synced block's number and hash; `open` uses a checkpoint only if that block is still canonical.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound
from web3.types import RPCEndpoint

from ledger.chain import Ledger
from ledger.events import DEFAULT_MAX_BLOCK_RANGE, DecodedEvent, EventReader

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "healthsilk-consent-index/1"
CONSENT_EVENTS = ("ConsentGranted", "ConsentRevoked")
MEMBER_EVENTS = ("MemberAdmitted", "MemberSuspended", "MemberReinstated")
DEFAULT_POLL_SECONDS = 0.2
SCAN_ATTEMPTS = 5  # rescans allowed when the head block is replaced while we read its range


class IndexedConsent(NamedTuple):
    """The current consent of one (patient, grantee) pair, as the ledger stores it."""

    categories: int
    purposes: int
    active: bool  # False once revoked (terms and version stay, as in the contract)
    valid_from: int
    valid_until: int
    data_from: int
    data_until: int
    version: int
    consent_id: bytes


@dataclass(frozen=True, slots=True)
class Decision:
    permitted: bool
    consent_id: bytes | None  # the consent version consulted (also on refusals); None when never granted
    as_of_block: int
    reason: str


@dataclass(frozen=True)
class SyncResult:
    from_block: int
    to_block: int
    events: int
    rebuilt: bool  # True when a revert/reorg (or a first build) made the index start over


@dataclass
class _State:
    """Everything the index knows, as of one block. Keys are lower-case 0x addresses."""

    block_number: int
    block_hash: bytes
    block_timestamp: int
    consents: dict[tuple[str, str], IndexedConsent] = field(default_factory=dict)
    members: dict[str, bool] = field(default_factory=dict)  # account -> active


class ConsentIndex:
    """In-memory consents + member status for one ConsentLedger and its registry, kept in step with the chain."""

    def __init__(self, ledger: Ledger, *, max_block_range: int = DEFAULT_MAX_BLOCK_RANGE, checkpoint_path: Path | None = None) -> None:
        self.w3: Web3 = ledger.w3
        self.chain_id = int(self.w3.eth.chain_id)
        self.consent_ledger: Contract = ledger.contract("ConsentLedger")
        self.registry: Contract = ledger.contract("ConsortiumRegistry")
        # isPermitted consults the registry the ledger was deployed with; index that one, not a guess.
        bound = self.consent_ledger.functions.registry().call()
        if bound.lower() != self.registry.address.lower():
            raise ValueError(f"ConsentLedger uses registry {bound}, deployments name {self.registry.address}")
        deployments = ledger.deployments.contracts
        self.start_block = min(deployments["ConsentLedger"].block_number, deployments["ConsortiumRegistry"].block_number)
        self.reader = EventReader(self.w3, max_block_range)
        self.checkpoint_path = checkpoint_path
        self.rebuilds = 0  # how many times a revert/reorg/unusable checkpoint forced a full rebuild
        self.load_note = "not loaded"
        self._state: _State | None = None
        self._lock = threading.Lock()  # guards _state: one consistent view per decision
        self._sync_lock = threading.Lock()  # one sync at a time (follower thread vs. callers)
        self._observed: tuple[int, bytes] = (-1, b"")  # newest head seen by the follower or a sync
        self._follower: threading.Thread | None = None
        self._stop = threading.Event()
        self.follower_error: Exception | None = None

    # ------------------------------------------------------------------ building and loading

    @classmethod
    def open(cls, ledger: Ledger, *, checkpoint_path: Path | None = None, max_block_range: int = DEFAULT_MAX_BLOCK_RANGE) -> "ConsentIndex":
        """An index resumed from `checkpoint_path` when it is still valid for this chain, else rebuilt; then synced."""
        index = cls(ledger, max_block_range=max_block_range, checkpoint_path=checkpoint_path)
        if checkpoint_path is not None and checkpoint_path.exists():
            index.load_checkpoint(checkpoint_path)
        index.sync()
        return index

    def rebuild(self) -> SyncResult:
        """Forget everything and replay the events from the contracts' deployment blocks to the head."""
        with self._sync_lock:
            return self._rebuild()

    def sync(self) -> SyncResult:
        """Apply the blocks after the last synced one up to the node's head; rebuild if that block was replaced."""
        with self._sync_lock:
            return self._sync()

    def load_checkpoint(self, path: Path) -> bool:
        """Resume from a checkpoint; False (and a rebuild) when it is unreadable, foreign or no longer canonical."""
        with self._sync_lock:
            try:
                state = self._read_checkpoint(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                return self._discard_checkpoint(f"checkpoint {path} unusable: {exc}")
            if self._hash_at(state.block_number) != state.block_hash:
                return self._discard_checkpoint(f"checkpoint block {state.block_number} is no longer canonical (revert or reorg)")
            with self._lock:
                self._state = state
            self.load_note = f"resumed from checkpoint at block {state.block_number}"
            return True

    def save_checkpoint(self, path: Path | None = None) -> Path:
        """Write the state and the synced block's number and hash atomically (tmp file + rename)."""
        target = path or self.checkpoint_path
        if target is None:
            raise ValueError("no checkpoint path given")
        with self._lock:
            body = self._export(self._require_state())
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with tmp.open("w") as handle:
            json.dump(body, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(target)
        return target

    # ------------------------------------------------------------------ following the chain

    def start_following(self, interval: float = DEFAULT_POLL_SECONDS) -> None:
        """Poll the node's head every `interval` seconds in a daemon thread and sync when it moves."""
        if self._follower is not None and self._follower.is_alive():
            return
        self._stop.clear()
        self._follower = threading.Thread(target=self._follow, args=(interval,), name="consent-index-follower", daemon=True)
        self._follower.start()

    def stop_following(self) -> None:
        """Stop the follower (and save a checkpoint when a checkpoint path is configured)."""
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=10)
            self._follower = None
        if self.checkpoint_path is not None and self._state is not None:
            self.save_checkpoint()

    def __enter__(self) -> "ConsentIndex":
        self.start_following()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_following()

    # ------------------------------------------------------------------ decisions

    def decide(self, patient: str, grantee: str, category_mask: int, purpose: int, max_staleness_blocks: int | None = None) -> Decision:
        """Would `ConsentLedger.isPermitted(patient, grantee, category_mask, purpose)` be true at the synced head?

        See the module docstring for the freshness guarantee. ValueError for malformed addresses or masks
        outside uint16 / uint8 (the contract would not accept them either).
        """
        if max_staleness_blocks is not None:
            self.ensure_fresh(max_staleness_blocks)
        elif self._observed != self._synced_marker():
            self.sync()  # the follower saw a head we have not applied yet
        if not 0 <= category_mask <= 0xFFFF:
            raise ValueError(f"category_mask must fit in uint16, got {category_mask}")
        if not 0 <= purpose <= 0xFF:
            raise ValueError(f"purpose must fit in uint8, got {purpose}")
        key = (_address_key(patient, "patient"), _address_key(grantee, "grantee"))
        with self._lock:
            state = self._require_state()
            consent = state.consents.get(key)
            member_active = state.members.get(key[1], False)
            block, now = state.block_number, state.block_timestamp
        if consent is None:
            return Decision(False, None, block, "no consent")
        consent_id = consent.consent_id
        if not consent.active:
            return Decision(False, consent_id, block, "consent revoked")
        if now < consent.valid_from:
            return Decision(False, consent_id, block, "consent not yet valid")
        if now >= consent.valid_until:
            return Decision(False, consent_id, block, "consent expired")
        if category_mask == 0 or consent.categories & category_mask != category_mask:
            return Decision(False, consent_id, block, "category not covered")
        if purpose == 0 or consent.purposes & purpose != purpose:
            return Decision(False, consent_id, block, "purpose not covered")
        if not member_active:
            return Decision(False, consent_id, block, "grantee is not an active member")
        return Decision(True, consent_id, block, "permitted")

    def ensure_fresh(self, max_staleness_blocks: int = 0) -> None:
        """Ask the node for its head; sync when the index is more than `max_staleness_blocks` behind or forked."""
        if max_staleness_blocks < 0:
            raise ValueError(f"max_staleness_blocks must be >= 0, got {max_staleness_blocks}")
        head = self._head()
        number, block_hash = int(head["number"]), bytes(head["hash"])
        self._observe(number, block_hash)
        with self._lock:
            state = self._state
        if state is None or number - state.block_number > max_staleness_blocks or number < state.block_number:
            self.sync()
        elif number == state.block_number and block_hash != state.block_hash:
            self.sync()  # same height, different block: a revert replaced it

    # ------------------------------------------------------------------ inspection

    @property
    def observed_block(self) -> int:
        """The newest head block number this index has seen (follower poll or sync); -1 before any."""
        return self._observed[0]

    @property
    def synced_block(self) -> int:
        return self._require_state().block_number

    @property
    def synced_timestamp(self) -> int:
        return self._require_state().block_timestamp

    def consent(self, patient: str, grantee: str) -> IndexedConsent | None:
        with self._lock:
            return self._require_state().consents.get((_address_key(patient, "patient"), _address_key(grantee, "grantee")))

    def is_active_member(self, account: str) -> bool:
        with self._lock:
            return self._require_state().members.get(_address_key(account, "account"), False)

    def consent_count(self) -> int:
        with self._lock:
            return len(self._require_state().consents)

    def export(self) -> dict[str, Any]:
        """The whole state as JSON-ready data (what a checkpoint holds)."""
        with self._lock:
            return self._export(self._require_state())

    def consents(self) -> Iterator[tuple[str, str, IndexedConsent]]:
        """(patient, grantee, consent) for every indexed pair, addresses checksummed."""
        with self._lock:
            items = list(self._require_state().consents.items())
        for (patient, grantee), consent in items:
            yield to_checksum_address(patient), to_checksum_address(grantee), consent

    # ------------------------------------------------------------------ internals (callers hold _sync_lock)

    def _sync(self) -> SyncResult:
        for _attempt in range(SCAN_ATTEMPTS):
            state = self._state
            if state is None:
                return self._rebuild()
            head = self._head()
            number, head_hash = int(head["number"]), bytes(head["hash"])
            self._observe(number, head_hash)
            if number == state.block_number and head_hash == state.block_hash:
                return SyncResult(number + 1, number, 0, False)
            if number < state.block_number or not self._still_canonical(state, number, head_hash):
                log.warning("consent index: block %d was replaced (revert or reorg); rebuilding", state.block_number)
                self.rebuilds += 1
                return self._rebuild()
            events = self._events(state.block_number + 1, number)
            if not self._head_unchanged(number, head_hash):
                continue  # the chain was rewritten under the scan: start again from a clean head
            updated = _State(number, head_hash, int(head["timestamp"]), state.consents, state.members)
            with self._lock:
                # Applied in place under the lock so no decision sees half a block range.
                _apply(updated, events)
                self._state = updated
            return SyncResult(state.block_number + 1, number, len(events), False)
        raise RuntimeError(f"the chain kept changing during {SCAN_ATTEMPTS} sync attempts; try again")

    def _rebuild(self) -> SyncResult:
        for _attempt in range(SCAN_ATTEMPTS):
            head = self._head()
            number, head_hash = int(head["number"]), bytes(head["hash"])
            self._observe(number, head_hash)
            fresh = _State(number, head_hash, int(head["timestamp"]))
            events = self._events(self.start_block, number)
            if not self._head_unchanged(number, head_hash):
                continue
            _apply(fresh, events)
            with self._lock:
                self._state = fresh
            if self.load_note == "not loaded":
                self.load_note = f"built from events up to block {number}"
            return SyncResult(self.start_block, number, len(events), True)
        raise RuntimeError(f"the chain kept changing during {SCAN_ATTEMPTS} rebuild attempts; try again")

    def _events(self, from_block: int, to_block: int) -> list[DecodedEvent]:
        if to_block < from_block:
            return []
        return self.reader.read([self.consent_ledger, self.registry], from_block, to_block, CONSENT_EVENTS + MEMBER_EVENTS)

    def _still_canonical(self, state: _State, head_number: int, head_hash: bytes) -> bool:
        if head_number == state.block_number:
            return head_hash == state.block_hash
        return self._hash_at(state.block_number) == state.block_hash

    def _head_unchanged(self, number: int, head_hash: bytes) -> bool:
        return self._hash_at(number) == head_hash

    def _hash_at(self, number: int) -> bytes | None:
        """The canonical hash at a height, None when the chain is shorter (e.g. after a revert)."""
        header = self._header(number)
        return None if header is None else header["hash"]

    def _header(self, block: str | int) -> dict[str, Any] | None:
        """A block's number, hash and timestamp (None when there is no such block), read raw: the follower polls the
        head five times a second and a sync reads up to three headers, and web3's full block formatting cost more
        CPU than the poll itself (measured ~1/5 of the API's CPU under write load, a block per transaction)."""
        reply = self.w3.provider.make_request(RPCEndpoint("eth_getBlockByNumber"), [block if isinstance(block, str) else hex(block), False])
        if "error" in reply:
            raise RuntimeError(f"eth_getBlockByNumber({block}) failed: {reply['error']}")
        result = reply.get("result")
        if result is None:
            return None
        return {"number": int(result["number"], 16), "hash": bytes.fromhex(result["hash"][2:]), "timestamp": int(result["timestamp"], 16)}

    def _head(self) -> dict[str, Any]:
        head = self._header("latest")
        if head is None:
            raise BlockNotFound("the node has no latest block")
        return head

    def _observe(self, number: int, block_hash: bytes) -> None:
        self._observed = (number, block_hash)

    def _synced_marker(self) -> tuple[int, bytes]:
        state = self._state
        return (-1, b"") if state is None else (state.block_number, state.block_hash)

    def _require_state(self) -> _State:
        if self._state is None:
            raise RuntimeError("the consent index is not built yet: call sync() or ConsentIndex.open()")
        return self._state

    def _discard_checkpoint(self, why: str) -> bool:
        log.warning("consent index: %s; rebuilding from events", why)
        self.load_note = f"rebuilt: {why}"
        self.rebuilds += 1
        self._rebuild()
        return False

    def _follow(self, interval: float) -> None:
        last_saved = time.monotonic()
        while not self._stop.wait(interval):
            try:
                head = self._head()
                self._observe(int(head["number"]), bytes(head["hash"]))
                if self._observed != self._synced_marker():
                    self.sync()
                if self.checkpoint_path is not None and time.monotonic() - last_saved > 10:
                    self.save_checkpoint()
                    last_saved = time.monotonic()
                self.follower_error = None
            except Exception as exc:  # noqa: BLE001 - a node restart must not kill the follower; retry next poll
                self.follower_error = exc
                log.warning("consent index follower: %s", exc)

    def _export(self, state: _State) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "chain_id": self.chain_id,
            "consent_ledger": self.consent_ledger.address,
            "registry": self.registry.address,
            "block_number": state.block_number,
            "block_hash": "0x" + state.block_hash.hex(),
            "block_timestamp": state.block_timestamp,
            "members": dict(sorted(state.members.items())),
            "consents": sorted([patient, grantee, *c[:8], "0x" + c.consent_id.hex()] for (patient, grantee), c in state.consents.items()),
        }

    def _read_checkpoint(self, path: Path) -> _State:
        body = json.loads(path.read_text())
        if body.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"unknown format {body.get('format')!r}")
        expected = (self.chain_id, self.consent_ledger.address.lower(), self.registry.address.lower())
        found = (body["chain_id"], str(body["consent_ledger"]).lower(), str(body["registry"]).lower())
        if found != expected:
            raise ValueError(f"written for chain {found[0]} / contracts {found[1]}, {found[2]}")
        state = _State(int(body["block_number"]), bytes(HexBytes(body["block_hash"])), int(body["block_timestamp"]))
        state.members = {str(account).lower(): bool(active) for account, active in body["members"].items()}
        for patient, grantee, categories, purposes, active, valid_from, valid_until, data_from, data_until, version, consent_id in body["consents"]:
            state.consents[(str(patient).lower(), str(grantee).lower())] = IndexedConsent(
                int(categories), int(purposes), bool(active), int(valid_from), int(valid_until), int(data_from), int(data_until), int(version), bytes(HexBytes(consent_id))
            )
        return state


def _apply(state: _State, events: list[DecodedEvent]) -> None:
    """Replay events (in chain order) into the state, the way the contracts change their storage."""
    for event in events:
        args = event.args
        name = event.name
        if name == "ConsentGranted":
            state.consents[(args["patient"].lower(), args["grantee"].lower())] = IndexedConsent(
                args["categories"], args["purposes"], True, args["validFrom"], args["validUntil"], args["dataFrom"], args["dataUntil"], args["version"], bytes(args["consentId"])
            )
        elif name == "ConsentRevoked":
            key = (args["patient"].lower(), args["grantee"].lower())
            current = state.consents.get(key)
            if current is not None:
                state.consents[key] = current._replace(active=False)
        elif name in ("MemberAdmitted", "MemberReinstated"):
            state.members[args["account"].lower()] = True
        elif name == "MemberSuspended":
            state.members[args["account"].lower()] = False


def _address_key(address: str, what: str) -> str:
    """Lower-case 0x address; ValueError for anything that is not 20 bytes of hex."""
    if isinstance(address, str) and len(address) == 42 and address[:2] in ("0x", "0X"):
        try:
            int(address[2:], 16)
            return "0x" + address[2:].lower()
        except ValueError:
            pass
    raise ValueError(f"{what} must be a 0x-prefixed 20-byte hex address, got {address!r}")
