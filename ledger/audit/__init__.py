"""The ledger audit: rebuild the whole ledger from its events and prove every rule held.

| module | job |
| --- | --- |
| `fetch.py` | the contract set; every event in chunks, with block times; batched view calls |
| `calls.py` | the batched record (Merkle leaf) behind batched erasures / reads, from their calldata |
| `state.py` | the state model, changed event by event as the contracts change storage |
| `checks.py` | the rules, checked per event against the state before it |
| `flow_cases.py` | the referral cases' rules (reads inside their case, none after closing, answers only from accepting consultants) and turnaround figures per case and country pair |
| `views.py` | the rebuilt state against the contracts' view functions at the end block |
| `deep.py` | `--deep`: payloads re-read from IPFS and re-verified; batch manifests re-proven |
| `stats.py` | figures: totals, per institution / programme, hourly series |
| `violations.py` | the rule ids and the `Violation` record |
| `report.py` | the JSON report and its range-stable digest |
| `html.py` | the HTML report (inline SVG charts) |
| `checkpoint.py` | save / resume the replay |
| `replay.py` | `run_audit`: the whole audit |
| `cli.py` | `healthsilk audit replay` |
| `flows.py` | how a care flow's rule family joins the audit (`FlowFamily`, `register`, `FlowRouter`) |
| `flow_emergency.py` | break-glass rules (role, policy, window, categories, reviews within 72 h) and per-institution review figures |
| `flow_publichealth.py` | public-health report rules (weeks, corrections, parameters, alert origins; with --deep, payloads and cells below k) |
| `flow_prescriptions.py` | e-prescription rules (counts, times, pharmacies, dispense records, reads) and dispenses per country / pharmacy |
| `flow_delegate.py` | delegate reads (DelegateAccessLog): named the patient's delegate at that block, by a member holding the key; reads per institution and the latest ones |
"""

from ledger.audit.replay import AuditError, AuditOptions, AuditResult, run_audit

__all__ = ["AuditError", "AuditOptions", "AuditResult", "run_audit"]
