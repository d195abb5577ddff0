"""The care flows' rule families: how a flow (cases, emergency, prescriptions, public health) joins the audit.

Each flow writes one module here (`ledger/audit/flow_<name>.py`) that builds a `FlowFamily` and adds it to
`FAMILIES` below. The audit then
- fetches the flow contract's events (when the contract is deployed; a chain without it is audited as before),
- calls `check` on each event before `apply` (the same discipline as `checks.py`: judge against the state before),
- calls `finish` once at the end block's time (deadlines: overdue reviews, unacknowledged alerts ...),
- with `--deep`, calls `deep` to re-read the flow's own payloads from IPFS,
- puts `report(...)` under `report["flows"][name]` and, when given, `html(section)` into the HTML report.

A family's state is one JSON-able dict (`state.flows[name]`), so checkpoints keep it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.audit.fetch import ChainEvent
from ledger.audit.state import AuditState
from ledger.audit.violations import RULES, Violation

FlowState = dict[str, Any]


@dataclass
class FlowContext:
    """What a family's rules see: the core state, the family's own state, the event being judged, and `flag`."""

    state: AuditState
    flow: FlowState
    flag: Callable[[str, str, str], None]  # (rule, explanation, subject) -> a violation at the current event
    require_member: Callable[[str, int | None, str], bool]  # (account, role flag, acting) -> active with the role?
    ev: ChainEvent | None = None


@dataclass(frozen=True)
class FlowFamily:
    name: str  # the report's section, e.g. "cases"
    contract: str  # the deployment name of the flow's contract, e.g. "ReferralCases"
    rules: dict[str, str]  # rule id -> what it says (ids are stable: they appear in reports)
    check: Callable[[FlowContext, ChainEvent], None]
    apply: Callable[[FlowState, ChainEvent], None]
    report: Callable[[FlowState, AuditState], dict[str, Any]]
    finish: Callable[[FlowContext, int], None] = lambda ctx, end_time: None  # noqa: E731 - most flows need none
    html: Callable[[dict[str, Any]], str] | None = None
    # --deep: re-read the flow's own payloads from IPFS (`cat(cid text) -> bytes`); (rule, explanation, subject) each
    deep: Callable[[FlowState, Callable[[str], bytes]], list[tuple[str, str, str]]] | None = None
    extra_contracts: tuple[str, ...] = field(default=())  # other deployments whose events the family reads


FAMILIES: list[FlowFamily] = []


def register(family: FlowFamily) -> FlowFamily:
    """Adds a family (import time); its rules join the report's rule list."""
    RULES.update(family.rules)
    FAMILIES.append(family)
    return family


class FlowRouter:
    """Routes each event of a flow contract to its family; the replay calls it beside the core checker."""

    def __init__(self, state: AuditState, flag_at: Callable[[str, str, str, ChainEvent | None], None],
                 require_member: Callable[[str, int | None, str], bool], deployed: set[str]) -> None:
        self.state = state
        self.families = [f for f in FAMILIES if f.contract in deployed]
        self._by_contract: dict[str, list[FlowFamily]] = {}
        for family in self.families:
            for contract in (family.contract, *family.extra_contracts):
                self._by_contract.setdefault(contract, []).append(family)
        self._flag_at = flag_at
        self._require_member = require_member

    def _context(self, family: FlowFamily, ev: ChainEvent | None) -> FlowContext:
        return FlowContext(self.state, self.state.flows.setdefault(family.name, {}),
                           lambda rule, text, subject="": self._flag_at(rule, text, subject, ev), self._require_member, ev)

    def check(self, ev: ChainEvent) -> None:
        for family in self._by_contract.get(ev.contract, ()):
            family.check(self._context(family, ev), ev)

    def apply(self, ev: ChainEvent) -> None:
        for family in self._by_contract.get(ev.contract, ()):
            family.apply(self.state.flows.setdefault(family.name, {}), ev)

    def finish(self, end_time: int, end_block: int) -> list[Violation]:
        found: list[Violation] = []
        for family in self.families:
            ctx = FlowContext(self.state, self.state.flows.setdefault(family.name, {}),
                              lambda rule, text, subject="": found.append(Violation(rule, end_block, "", 0, text, subject)), self._require_member)
            family.finish(ctx, end_time)
        return found

    def deep(self, cat: Callable[[str], bytes], end_block: int) -> list[Violation]:
        """The families' payload checks (audit --deep), as end-state findings."""
        return [
            Violation(rule, end_block, "", 0, text, subject)
            for family in self.families if family.deep is not None
            for rule, text, subject in family.deep(self.state.flows.get(family.name, {}), cat)
        ]

    def reports(self) -> dict[str, Any]:
        return {f.name: f.report(self.state.flows.get(f.name, {}), self.state) for f in self.families}

    def rules(self) -> set[str]:
        return {rule for f in self.families for rule in f.rules}


def load_families() -> None:
    """Imports every `flow_*.py` module here, so each registers its family (once)."""
    import importlib
    import pkgutil
    from pathlib import Path

    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("flow_"):
            importlib.import_module(f"{__package__}.{info.name}")
