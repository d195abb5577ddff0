"""Public-health reporting: de-identified weekly counts from every member, a cross-border picture, outbreak alerts.

| module | job |
| --- | --- |
| `notifiable.json` | the notifiable diseases (data): ICD-10 categories with common SNOMED CT and LOINC codes, immediate flag |
| `diseases.py` | load the list, match FHIR codings against it |
| `cases.py` | one decrypted FHIR resource -> (disease, ISO week, age band, sex), or nothing |
| `sources.py` | the institution's own records (its RecordAnchored events and batches), decrypted with its own key |
| `suppression.py` | k-suppression, complementary suppression, correction-safe differencing, linear disclosure check |
| `measure.py` | the FHIR MeasureReport (summary) and its parser |
| `service.py` | build, seal or publish, anchor with rule alerts; read reports; the dashboard as a PUBLIC_HEALTH member |
| `alerts.py` | `OutbreakAlerts`, the inbox source ("publichealth") |
| `dashboard.py` | the dashboard model and its HTML (inline SVG, no scripts) |
| `synthetic.py` | synthetic notifiable-case resources for the demo, tests and bench |
"""
