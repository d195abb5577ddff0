"""What each audit rule says, for the HTML report in the reader's language (keyed by the stable rule id).

The JSON report keeps the English sentence of ledger/audit (violations.py and the flow families); this table only
translates it. A rule missing here, or whose English changed there, is shown in the report's own English words.
"""

from __future__ import annotations

from i18n import N_, _

RULE_TEXTS = {
    "access-consent": N_("Every logged access was covered, at its block, by the reader's consent from the patient (care-flow reads are judged by their flow's rules)."),
    "consent-in-force": N_("No consent was used after it was revoked, replaced or expired, nor before it started."),
    "record-authorship": N_("Every record was anchored by an active provider holding the patient's consent, or under the patient's upload authorisation."),
    "member-active": N_("Nothing was done by a suspended or unknown member, nor by a member without the role the action needs."),
    "claims": N_("Claims were paid once, within the card's limit, with evidence by the claimant and the patient's confirmation (or a recorded override)."),
    "escrow": N_("Escrow is conserved: funded - withdrawn - paid - disbursed = escrow >= 0, and tokens move only with a payment event."),
    "governance": N_("Every change to the directory after genesis executed a proposal whose valid votes reached quorum."),
    "event-consistency": N_("Values the contracts report in events (versions, ids, running totals) agree with the replay."),
    "state-matches-views": N_("The state rebuilt from events equals what the contracts' view functions return at the end block."),
    "payload-integrity": N_("Every anchored payload in IPFS has the anchored sha256 and CID; erased payloads are gone."),
    "batch-proofs": N_("Every batch manifest reproduces the anchored Merkle root and every record's proof verifies."),
    "case-open": N_("Every referral case was opened by an active member for a REFERRAL request it anchored, with its patient's own records and active member consultants."),
    "case-approval": N_("Every case was approved or refused by its patient or the patient's delegate, while it was open."),
    "case-read": N_("Every read under a case was inside it: approved, not closed, before its consent's end, by an accepting consultant (attached records, its own or shared answers) or by the requester (answers)."),
    "case-answer": N_("Every answer belongs to a live case that its author accepted, and is a record of the case's patient written by that consultant after the opening."),
    "break-glass-role": N_("Every break-glass was opened by an active member holding the EMERGENCY role."),
    "break-glass-read": N_("Every read under a break-glass was by its reader, before it expired, of its patient's records in its categories."),
    "break-glass-review": N_("Every break-glass was reviewed once, within 72 hours, by its patient, the delegate or a PRIVACY_OFFICER member other than its reader."),
    "prescription-issue": N_("Every prescription was issued by an active PROVIDER on its own PRESCRIPTION record of the patient."),
    "prescription-count": N_("No prescription was dispensed more often than allowed."),
    "prescription-time": N_("No dispense happened after cancellation, outside the validity period or inside the minimum interval."),
    "prescription-pharmacy": N_("Every dispense came from an active PHARMACY in the prescription's scope that it was presented to."),
    "prescription-dispense-record": N_("Every dispense has its own MedicationDispense record: DISPENSE, of the patient, anchored on its own by the pharmacy."),
    "prescription-read": N_("Every read under a prescription was by its prescriber or a pharmacy it was presented to, of its records."),
    "ph-report": N_("Every public-health report came from an active member, in the consortium's publication mode, suppressed with at least its k."),
    "ph-correction": N_("A second report for a member's week is a marked correction of its latest report for that week, and only then."),
    "ph-parameters": N_("Public-health parameters changed only by a governor's proposal approved by another governor."),
    "ph-alert-origin": N_("Every outbreak alert came from a rule of a report of the same member and week, or by hand from an active PUBLIC_HEALTH member."),
    "ph-payload": N_("Every report's payload matches its anchor, and a report in clear publishes no count below k."),
}


def rule_text(rule_id: str, english: str) -> str:
    """The rule's sentence in the current language when this table still has the report's exact English, else the English."""
    known = RULE_TEXTS.get(rule_id)
    return _(known) if known == english else english
