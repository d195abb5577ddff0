"""The audit: fetch every event, rebuild the ledger while checking each rule, compare with the views, report.

    result = run_audit(Ledger.open(url, deployments_file), AuditOptions(deep=True, ipfs_url=...))
    result.report["digest"], result.violations

The state is always rebuilt from the contracts' deployment (or a checkpoint); only events from `from_block` on
are judged and counted, so a later start block audits a window without losing the history it depends on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.audit.checkpoint import Checkpoint, CheckpointUnusable, load_checkpoint
from ledger.audit.calls import attach_batched_calls
from ledger.audit.checks import EventChecker
from ledger.audit.deep import DeepFigures, verify_payloads
from ledger.audit.fetch import ContractSet, block_header, fetch_events
from ledger.audit.flows import FlowRouter, load_families
from ledger.audit.report import build_report
from ledger.audit.state import AuditState
from ledger.audit.stats import Stats
from ledger.audit.views import compare_with_views
from ledger.audit.violations import Violation
from ledger.chain import Ledger
from ledger.events import DEFAULT_MAX_BLOCK_RANGE
from network.ipfs_client import IpfsClient

# (phase, done, total): phases "fetch" (blocks), "replay" (events), "views", "deep" (records + batches).
AuditProgress = Callable[[str, int, int], None]


class AuditError(ValueError):
    """The audit cannot run as asked (bad range, missing IPFS URL for --deep ...); nothing was written."""


@dataclass(frozen=True)
class AuditOptions:
    from_block: int | None = None  # default: the contracts' deployment block
    to_block: int | None = None  # default: the node's head
    deep: bool = False
    ipfs_url: str | None = None  # needed with deep
    max_block_range: int = DEFAULT_MAX_BLOCK_RANGE
    checkpoint: Path | None = None
    ipfs_secret: str | None = field(default=None, repr=False)  # Kubo's RPC secret; None: the client finds it


@dataclass
class AuditResult:
    report: dict[str, Any]
    state: AuditState
    violations: list[Violation]
    timings: dict[str, float] = field(default_factory=dict)
    events_replayed: int = 0
    resumed_from: int | None = None
    checkpoint_note: str = ""

    @property
    def digest(self) -> str:
        return str(self.report["digest"])


def run_audit(ledger: Ledger, options: AuditOptions, progress: AuditProgress | None = None) -> AuditResult:
    """Replay and check the ledger over the asked range; see the module docstring."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    load_families()
    contracts = ContractSet(ledger)
    w3 = contracts.w3
    chain_id = int(w3.eth.chain_id)
    head = int(w3.eth.block_number)
    from_block = contracts.deployment_block if options.from_block is None else options.from_block
    to_block = head if options.to_block is None else options.to_block
    if from_block < 0 or to_block < from_block:
        raise AuditError(f"invalid block range [{from_block}, {to_block}]")
    if to_block > head:
        raise AuditError(f"--to-block {to_block} is past the chain head {head}")
    if options.deep and not options.ipfs_url:
        raise AuditError("--deep needs the IPFS API URL")
    if options.max_block_range < 1:
        raise AuditError(f"--max-block-range must be at least 1, got {options.max_block_range}")
    addresses = contracts.addresses()
    quorum = int(contracts["ConsortiumRegistry"].functions.quorum().call())

    state, stats, violations = AuditState(quorum=quorum), Stats(), []
    replay_from, resumed_from, note = contracts.deployment_block, None, "full replay"
    if options.checkpoint is not None and options.checkpoint.exists():
        try:
            saved = load_checkpoint(options.checkpoint, w3=w3, chain_id=chain_id, contracts=addresses, from_block=from_block, to_block=to_block)
            state, stats, violations = saved.state, saved.stats, list(saved.violations)
            replay_from, resumed_from = saved.block + 1, saved.block
            note = f"resumed from checkpoint at block {saved.block}"
        except CheckpointUnusable as exc:
            note = f"checkpoint not used ({exc}); full replay"

    mark = time.perf_counter()
    fetch_progress = (lambda done, total, _events: progress("fetch", done, total)) if progress else None
    events = fetch_events(contracts, replay_from, to_block, max_block_range=options.max_block_range, progress=fetch_progress) if replay_from <= to_block else []
    attach_batched_calls(contracts, events, state)  # the leaves batched erasures / reads act on (not in the events)
    timings["fetch"] = time.perf_counter() - mark

    mark = time.perf_counter()
    checker = EventChecker(state, genesis_block=contracts.registry_block, payments_address=contracts["HealthCardPayments"].address, judge_from=from_block)
    flows = FlowRouter(state, checker.flag, checker.require_member, set(contracts.contracts))
    replay_events(events, state, stats, checker, from_block, progress, flows)
    violations += checker.violations
    timings["replay"] = time.perf_counter() - mark

    end_number, end_hash, end_time = block_header(w3, to_block)
    state.block = to_block
    violations += flows.finish(end_time, end_number)
    if options.checkpoint is not None:
        Checkpoint(chain_id, addresses, from_block, to_block, end_hash, state, stats, violations).save(options.checkpoint)

    mark = time.perf_counter()
    if progress:
        progress("views", 0, 1)
    end_violations = compare_with_views(contracts, state, to_block)
    if progress:
        progress("views", 1, 1)
    timings["views"] = time.perf_counter() - mark

    deep_figures: DeepFigures | None = None
    if options.deep:
        mark = time.perf_counter()
        deep_progress = (lambda done, total: progress("deep", done, total)) if progress else None
        found, deep_figures = verify_payloads(state, str(options.ipfs_url), judge_from=from_block, block=to_block, progress=deep_progress, ipfs_secret=options.ipfs_secret,
                                                count_orphans=options.from_block is None)
        end_violations += found
        with IpfsClient(str(options.ipfs_url), secret=options.ipfs_secret) as ipfs:
            end_violations += flows.deep(ipfs.cat, end_number)
        timings["deep"] = time.perf_counter() - mark

    all_violations = sorted(violations + end_violations, key=Violation.sort_key)
    timings["total"] = time.perf_counter() - started
    report = build_report(
        chain_id=chain_id, contracts=addresses, from_block=from_block, to_block=end_number, to_block_hash=end_hash, to_block_time=end_time,
        deep=options.deep, state=state, stats=stats, violations=all_violations, deep_figures=deep_figures, flows=flows.reports(),
        run={"checkpoint": note, "events_fetched": len(events), "seconds": {k: round(v, 3) for k, v in timings.items()}, "generated_at": int(time.time())},
    )
    return AuditResult(report, state, all_violations, timings, len(events), resumed_from, note)


def replay_events(events: list[Any], state: AuditState, stats: Stats, checker: EventChecker, judge_from: int, progress: AuditProgress | None = None,
                  flows: FlowRouter | None = None) -> None:
    """Check, count and apply each event in chain order (the hot loop of an audit)."""
    total = len(events)
    step = max(1, total // 100)
    check, apply, count = checker.check, state.apply, stats.count
    for index, ev in enumerate(events):
        check(ev)
        if flows is not None:
            flows.check(ev)
        if ev.block >= judge_from:
            count(ev, state)
        apply(ev)
        if flows is not None:
            flows.apply(ev)
        if progress and index % step == 0:
            progress("replay", index, total)
    checker.end_transaction()
    if progress:
        progress("replay", total, total)
