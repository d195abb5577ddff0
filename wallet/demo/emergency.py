"""The emergency chapter: the patient falls ill in Almaty. Almaty's emergency service breaks the glass with a reason,
reads her allergies, medications and ECG within seconds (keys released by Lokossa's API, no one had to act), her
wallet shows the alert, she reviews it as justified, and the auditor's replay shows it reviewed."""

from __future__ import annotations

import time
from typing import Any

from i18n import _
from i18n.formatting import datetime_text, decimal_text, number_text, percent_text
from i18n.vocabulary import category_display, joined
from ledger.audit import AuditOptions, run_audit
from ledger.chain import Ledger
from wallet.demo.care import CrossBorderCare
from wallet.demo.consortium import ALMATY, LOKOSSA
from wallet.demo.institutions import InstitutionApi
from wallet.demo.narration import Narrator

REASON = "Collapsed at Almaty-1 railway station, unresponsive; allergy and medication status needed before treatment."


def allergy_intolerance() -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed"}]},
        "type": "allergy", "category": ["medication"], "criticality": "high",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005", "display": "Allergy to penicillin"}]},
        "patient": {"reference": "Patient/example"},
        "reaction": [{"manifestation": [{"coding": [{"system": "http://snomed.info/sct", "code": "39579001", "display": "Anaphylaxis"}]}], "severity": "severe"}],
    }


def medication_statement() -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement", "status": "active",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361", "display": "Amlodipine 5 MG Oral Tablet"}]},
        "subject": {"reference": "Patient/example"},
        "dosage": [{"text": "5 mg once daily"}],
    }


class EmergencyInAlmaty:
    def __init__(self, narrator: Narrator, ledger: Ledger, care: CrossBorderCare, apis: dict[str, InstitutionApi]) -> None:
        self.n = narrator
        self.ledger = ledger
        self.care = care
        self.lokossa = apis[LOKOSSA]
        self.almaty = apis[ALMATY]
        self.records: dict[str, str] = {}

    def run(self) -> None:
        self.summary_records_in_lokossa()
        self.break_the_glass()
        self.patient_is_told_and_reviews()
        self.auditor_sees_it_reviewed()

    def summary_records_in_lokossa(self) -> None:
        self.n.chapter(_("Lokossa records her allergy and her medication; her emergency policy is the default"))
        patient = self.care.patient
        patient.run("consent", "grant", "--to", LOKOSSA, "--categories", "ECG,LAB,ALLERGIES,MEDICATIONS", "--purposes", "TREATMENT", "--days", "365", "--yes")
        for name, resource in (("allergy", allergy_intolerance()), ("medication", medication_statement())):
            reply = self.lokossa.call("POST", f"/v1/patients/{self.care.address}/records", json=resource)
            self.n.check(reply.status_code == 201, _("Lokossa's upload failed: {status} {answer}").format(status=reply.status_code, answer=reply.text[:300]))
            self.records[name] = reply.json()[0]["record_id"]
            self.n.say(_("{kind} anchored as record {record}… (category {category})").format(kind=resource["resourceType"], record=self.records[name][:18], category=joined(category_display([reply.json()[0]["category"]]))))
        self.records["ecg"] = self.care.ecg_id
        patient.run("emergency", "policy", "show")

    def break_the_glass(self) -> None:
        self.n.chapter(_("She collapses in Almaty: the emergency service breaks the glass"))
        started = time.monotonic()
        reply = self.almaty.call("POST", "/v1/emergency/break-glass", json={"patient": self.care.address, "reason_code": "ETREAT", "reason": REASON})
        self.n.check(reply.status_code == 201, _("Almaty could not break the glass: {status} {answer}").format(status=reply.status_code, answer=reply.text[:300]))
        view = reply.json()
        self.break_glass_id = view["id"]
        self.n.say(_("break-glass {id}… opened for {categories}, until {until}; the reason is sealed to her key, only its hash is on chain").format(
            id=view["id"][:18], categories=joined(category_display(view["categories"])), until=datetime_text(view["expires_at"])))
        first: float | None = None
        for name in ("allergy", "medication", "ecg"):
            read = self.almaty.call("GET", f"/v1/records/{self.records[name]}", params={"flow": "emergency", "ref": self.break_glass_id})
            self.n.check(read.status_code == 200, _("Almaty could not read the {name}: {status} {answer}").format(name=name, status=read.status_code, answer=read.text[:300]))
            first = first or time.monotonic() - started
            resource = read.json()
            concept = resource.get("code") or resource.get("medicationCodeableConcept") or {}
            # The coding displays are clinical text: quoted as recorded, never translated.
            self.n.say(_("decrypted in Almaty: {kind} — {what}").format(kind=resource["resourceType"], what=concept.get("coding", [{}])[0].get("display", "")))
        self.n.say(_("from the break-glass transaction to the first decrypted record: {seconds} s; the keys came from Lokossa's API, which checked the chain by itself").format(seconds=decimal_text(first or 0.0)))
        summary = self.almaty.call("GET", f"/v1/patients/{self.care.address}/summary", params={"ref": self.break_glass_id})
        self.n.check(summary.status_code == 200 and summary.json().get("type") == "document", _("the emergency summary failed: {status}").format(status=summary.status_code))
        kinds = [e["resource"]["resourceType"] for e in summary.json()["entry"][1:]]
        self.n.say(_("the emergency summary (IPS document Bundle) holds: {kinds}").format(kinds=", ".join(kinds)))

    def patient_is_told_and_reviews(self) -> None:
        self.n.chapter(_("Her wallet shows the alert; she reviews it as justified"))
        patient = self.care.patient
        alerts = patient.json("alerts")
        mine = [a for a in alerts if a.get("details", {}).get("break_glass_id") == self.break_glass_id]
        self.n.check(len(mine) == 1 and len(mine[0]["details"]["records_read"]) >= 3, _("the wallet does not show the break-glass and its reads: {alerts}").format(alerts=alerts))
        self.n.check(mine[0].get("reason") == REASON, _("the wallet could not open the reason"))
        patient.run("alerts")
        patient.run("emergency", "review", self.break_glass_id, "--justified", "--note", "I was unconscious; thank you", "--yes")

    def auditor_sees_it_reviewed(self) -> None:
        self.n.chapter(_("The auditor's replay shows the break-glass reviewed"))
        report = run_audit(self.ledger, AuditOptions()).report["report"]
        section = report["flows"]["emergency"]
        almaty = next((row for row in section["institutions"] if row["name"] == ALMATY), None)
        self.n.check(almaty is not None and almaty["share_reviewed"] == 1.0, _("the audit does not show Almaty's break-glass reviewed: {section}").format(section=section))
        self.n.say(_("{name}: {count} break-glass, {reviewed} reviewed, {unjustified} unjustified; break-glass rule violations: {violations}").format(
            name=ALMATY, count=number_text(almaty["break_glasses"]), reviewed=percent_text(almaty["share_reviewed"]), unjustified=percent_text(almaty["share_unjustified"]),
            violations=number_text(sum(1 for v in report["violations"] if v["rule"].startswith("break-glass")))))
