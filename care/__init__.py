"""The care flows: one service per flow, on top of `records/` and `ledger/`, with no HTTP in here.

| module | job |
| --- | --- |
| `alerts.py` | `Alert`, `AlertSource`: the one inbox that every flow's alerts join |
| `cases.py`, `cases_views.py`, `cases_fhir.py` | referral cases (issue 12): open, approve (plain words), accept, decline, answer, share, close, read under a case; the case view from its events; ServiceRequest / Communication / DiagnosticReport builders |
| `emergency.py` | break-glass (issue 13): the patient's policy, opening (reason sealed to the patient), reads under it, review, the emergency summary |
| `emergency_reason.py` | the free-text reason: salted hash on chain, HPKE-sealed to the patient's key in IPFS |
| `emergency_alerts.py` | the break-glass `AlertSource`: who, why, when, until when, which records were read, the review |
| `summary.py` | the IPS-style emergency summary: a FHIR document Bundle of the newest readable allergies, medications, problems, immunisations, last ECG |
| `webhooks.py` | the outgoing alert webhook: HMAC-signed, on-disk outbox, retried with backoff, never blocking, never losing an alert |
| `prescriptions.py` | e-prescriptions: issue, cancel, presentations (signed or printed token), verify, read, dispense, state |
| `prescriptions_token.py`, `prescriptions_words.py` | the printed one-time QR token (segno); plain words for states and signatures |
| `publichealth/` | public-health reporting (issue 15): notifiable list (data), cases from the institution's own records, small-cell suppression, the weekly MeasureReport sealed to PUBLIC_HEALTH members, outbreak alerts (`OutbreakAlerts`), the dashboard |
"""
