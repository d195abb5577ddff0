"""The e-prescription chapters (issue 14): Yinchuan's cardiologist prescribes with one repeat (and prints a paper
token); the patient presents the prescription to Lokossa Central Pharmacy from her wallet; the pharmacy reads it
(key released by Yinchuan's API), dispenses and is paid from her e-card; Cotonou Pharmacy, holding the paper token,
tries the same fill and is refused by the ledger; the patient sees one repeat left and the pharmacy's read in her log."""

from __future__ import annotations

from typing import Any

from i18n import _
from i18n.formatting import money_text
from ledger.audit import AuditOptions, run_audit
from ledger.chain import Ledger
from ledger.registry import ConsortiumRegistry
from ledger.roles import Role
from wallet.demo.care import CrossBorderCare
from wallet.demo.consortium import FUND, PHARMACY_COTONOU, PHARMACY_LOKOSSA, YINCHUAN, Cast
from wallet.demo.institutions import InstitutionApi
from wallet.demo.narration import Narrator

CURRENCY = "CNY"
PHARMACY_PACKAGE = "PHARMACY"
PRICE = 8_600  # minor units: 86.00 CNY, thirty tablets
REPEAT_INTERVAL_DAYS = 28
RXNORM = {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361", "display": "Amlodipine 5 MG Oral Tablet"}


def medication_request() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "medicationCodeableConcept": {"coding": [RXNORM]},
        "subject": {"reference": "Patient/example"},
        "dosageInstruction": [{"text": "5 mg once daily"}],
        "dispenseRequest": {"numberOfRepeatsAllowed": 1, "quantity": {"value": 30, "unit": "tablet"}, "expectedSupplyDuration": {"value": 28, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}},
    }


def medication_dispense() -> dict[str, Any]:
    return {
        "resourceType": "MedicationDispense", "status": "completed",
        "medicationCodeableConcept": {"coding": [RXNORM]},
        "subject": {"reference": "Patient/example"},
        "quantity": {"value": 30, "unit": "tablet"},
        "daysSupply": {"value": 28, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"},
    }


class PrescriptionChapter:
    def __init__(self, narrator: Narrator, ledger: Ledger, care: CrossBorderCare, apis: dict[str, InstitutionApi], cast: Cast) -> None:
        self.n = narrator
        self.ledger = ledger
        self.care = care
        self.cast = cast
        self.yinchuan, self.fund = apis[YINCHUAN], apis[FUND]
        self.lokossa, self.cotonou = apis[PHARMACY_LOKOSSA], apis[PHARMACY_COTONOU]
        self.pid = ""
        self.token = ""

    def _ok(self, reply: Any, what: str) -> dict[str, Any]:
        self.n.check(reply.status_code in (200, 201), _("{step} failed: {status} {answer}").format(step=what, status=reply.status_code, answer=reply.text[:400]))
        return reply.json()

    def run(self) -> None:
        self.pharmacies_record_and_claim()
        self.prescribe()
        self.present()
        self.dispense_and_pay()
        self.second_pharmacy_refused()
        self.patient_sees_one_repeat_left()
        self.auditor_counts_dispenses()

    def pharmacies_record_and_claim(self) -> None:
        """A pharmacy anchors its MedicationDispense and claims like a provider; governors vote it PROVIDER too."""
        registry = ConsortiumRegistry(self.ledger)
        proposer = self.ledger.sender(self.cast.governors[0][2].account)
        seconder = self.ledger.sender(self.cast.governors[1][2].account)
        for name in (PHARMACY_LOKOSSA, PHARMACY_COTONOU):
            address = self.cast.institutions[name].identity.address
            member = registry.member(address)
            if member is not None and "PROVIDER" in member.roles:
                continue
            if not getattr(self, "_titled", False):
                self.n.chapter(_("Pharmacies record dispenses and claim on e-cards: the governors add the PROVIDER role"))
                self._titled = True
            proposal = registry.propose_role_change(proposer, address, Role.PROVIDER | Role.PHARMACY)
            self.n.check(registry.approve(seconder, proposal), _("the role change of {name} did not pass").format(name=name))
            self.n.say(_("proposal #{proposal}: {name} becomes PROVIDER + PHARMACY — 2 of 2 votes, [green]done[/]").format(proposal=proposal, name=name))

    def prescribe(self) -> None:
        self.n.chapter(_("Yinchuan's cardiologist prescribes, with one repeat"))
        patient = self.care.patient
        patient.run("consent", "grant", "--to", "Yinchuan", "--categories", "ECG,PRESCRIPTION", "--purposes", "TREATMENT,PAYMENT", "--days", "30", "--yes")
        now = int(self.ledger.w3.eth.get_block("latest")["timestamp"])
        issued = self._ok(self.yinchuan.call("POST", "/v1/prescriptions", json={
            "patient": self.care.address, "medication_request": medication_request(), "valid_until": now + 90 * 86400, "repeats": 1,
            "min_interval_seconds": REPEAT_INTERVAL_DAYS * 86400, "print_token": True,
        }), _("issuing the prescription"))
        state = issued["state"]
        self.pid, self.token = state["prescription_id"], issued["token"]
        self.n.check(state["remaining"] == 2 and bool(self.token), _("unexpected prescription: {answer}").format(answer=state))
        self.n.say(_("prescription {id}… issued on chain: {words}; {scope}").format(id=self.pid[:18], words=state["words"], scope=state["scope_words"]))
        self.n.say(_("its MedicationRequest is an encrypted record ({record}…); the chain holds only ids, counts and times").format(record=state["record_id"][:18]))
        self.n.say(_("a paper copy for the patient: a QR token ({token}…) whose one-time secret only has its hash on chain").format(token=self.token[:24]))

    def present(self) -> None:
        self.n.chapter(_("The patient presents it to {pharmacy} from her wallet").format(pharmacy=PHARMACY_LOKOSSA))
        patient = self.care.patient
        patient.run("prescriptions", "list")
        patient.run("prescriptions", "present", self.pid, "--to", PHARMACY_LOKOSSA, "--yes")
        read = self._ok(self.lokossa.call("GET", f"/v1/prescriptions/{self.pid}/request"), _("the pharmacy reading the prescription"))
        coding = read["resource"]["medicationCodeableConcept"]["coding"][0]
        # The coding display is the prescriber's FHIR text: quoted as recorded, never translated.
        self.n.say(_("decrypted at {pharmacy}: {medication} (the key came from Yinchuan's API, which checked the chain)").format(pharmacy=PHARMACY_LOKOSSA, medication=coding["display"]))

    def dispense_and_pay(self) -> None:
        self.n.chapter(_("{pharmacy} dispenses and is paid from the e-card").format(pharmacy=PHARMACY_LOKOSSA))
        verdict = self._ok(self.lokossa.call("GET", f"/v1/prescriptions/{self.pid}/verify"), _("verifying"))
        self.n.check(bool(verdict["may_dispense"]), _("the pharmacy may not dispense: {answer}").format(answer=verdict))
        done = self._ok(self.lokossa.call("POST", f"/v1/prescriptions/{self.pid}/dispenses", json={"medication_dispense": medication_dispense()}), _("dispensing"))
        dispense = done["dispense"]
        self.n.say(_("dispense {number} of {allowed} on chain; the MedicationDispense is her record {record}…").format(
            number=dispense["number"], allowed=dispense["dispenses_allowed"], record=dispense["record_id"][:18]))
        cards = self._ok(self.fund.call("GET", f"/v1/patients/{self.care.address}/cards"), _("finding the e-card"))
        self.n.check(len(cards) >= 1, _("the patient has no e-card"))
        card = cards[0]
        self.card_id = card["card_id"]
        for pharmacy in (self.lokossa, self.cotonou):
            self._ok(self.fund.call("POST", f"/v1/payments/programmes/{card['programme_id']}/providers", json={"provider": pharmacy.institution.identity.address, "empanelled": True}), _("empanelling the pharmacies"))
        claim = self._ok(self.lokossa.call("POST", "/v1/payments/claims", json={
            "card_id": card["card_id"], "record_id": dispense["record_id"], "package_code": PHARMACY_PACKAGE, "amount": PRICE,
        }), _("the pharmacy's claim"))
        claim_id = claim["claim_id"]
        self.care.patient.run("claims", "confirm", str(claim_id), "--yes")
        paid = self._ok(self.fund.call("POST", f"/v1/payments/claims/{claim_id}/approve", json={"override_confirmation": False}), _("paying the claim"))
        self.n.check(bool(paid.get("paid")), _("the claim was not paid: {answer}").format(answer=paid))
        self.n.say(_("{fund} pays claim #{claim}: {amount} to {pharmacy}, evidence = the pharmacy's own dispense record").format(
            fund=FUND, claim=claim_id, amount=money_text(int(paid["amount"]), CURRENCY), pharmacy=PHARMACY_LOKOSSA))
        self.dispense_record = dispense["record_id"]

    def second_pharmacy_refused(self) -> None:
        self.n.chapter(_("{pharmacy} tries the same fill with the paper token: refused").format(pharmacy=PHARMACY_COTONOU))
        presented = self._ok(self.cotonou.call("POST", "/v1/prescriptions/tokens", json={"token": self.token}), _("presenting the paper token"))
        self.n.say(_("{pharmacy} presents the paper token: accepted once (transaction {transaction}…)").format(pharmacy=PHARMACY_COTONOU, transaction=presented["transaction_hash"][:18]))
        again = self.cotonou.call("POST", "/v1/prescriptions/tokens", json={"token": self.token})
        self.n.check(again.status_code == 409, _("a used token was accepted again: {status}").format(status=again.status_code))
        self.n.say(_("the same token again -> [red]{status}[/] {detail}").format(status=again.status_code, detail=again.json().get("detail", "")[:120]))
        refused = self.cotonou.call("POST", f"/v1/prescriptions/{self.pid}/dispenses", json={"medication_dispense": medication_dispense()})
        self.n.check(refused.status_code == 409, _("the second fill was not refused: {status} {answer}").format(status=refused.status_code, answer=refused.text[:300]))
        self.n.say(_("{pharmacy} dispenses the same fill -> [red]{status}[/] {detail}").format(pharmacy=PHARMACY_COTONOU, status=refused.status_code, detail=refused.json().get("detail", "")))
        claim = self.cotonou.call("POST", "/v1/payments/claims", json={"card_id": self.card_id, "record_id": self.dispense_record, "package_code": PHARMACY_PACKAGE, "amount": PRICE})
        self.n.check(claim.status_code >= 400, _("a pharmacy that did not dispense was able to claim"))
        self.n.say(_("{pharmacy} claims for Lokossa's dispense -> [red]{status}[/] {error}").format(pharmacy=PHARMACY_COTONOU, status=claim.status_code, error=claim.json().get("error", "")))

    def patient_sees_one_repeat_left(self) -> None:
        self.n.chapter(_("The patient sees one repeat left, and who read her prescription"))
        patient = self.care.patient
        view = patient.json("prescriptions", "show", self.pid)
        self.n.check(view["state"]["remaining"] == 1 and len(view["dispenses"]) == 1, _("the wallet does not show one repeat left: {view}").format(view=view["state"]))
        patient.run("prescriptions", "show", self.pid)
        log = patient.json("access-log")
        self.n.check(any(entry.get("reader_name") == PHARMACY_LOKOSSA for entry in log), _("the access log does not show the pharmacy's read"))
        prescriber_view = self._ok(self.yinchuan.call("GET", f"/v1/prescriptions/{self.pid}"), _("the prescriber's view"))
        self.n.say(_("Yinchuan sees: {words}; dispensed at {where}").format(words=prescriber_view["state"]["words"], where=", ".join(d["pharmacy_name"] for d in prescriber_view["dispenses"])))

    def auditor_counts_dispenses(self) -> None:
        self.n.chapter(_("The auditor's replay: no fill beyond what was prescribed; dispenses per country and per pharmacy"))
        report = run_audit(self.ledger, AuditOptions()).report["report"]
        section = report["flows"]["prescriptions"]
        lokossa = next((row for row in section["per_pharmacy"] if row["name"] == PHARMACY_LOKOSSA), None)
        violations = [v for v in report["violations"] if str(v["rule"]).startswith("prescription-")]
        self.n.check(lokossa is not None and lokossa["dispenses"] == 1 and not violations, _("the audit does not show the dispense as expected: {section} {violations}").format(section=section, violations=violations))
        countries = ", ".join(f"{country}: {count}" for country, count in section["per_country"].items())
        self.n.say(_("{prescriptions} prescription(s), {dispenses} dispense(s) ({cross} across a border); per country: {countries}; per pharmacy: {pharmacies}; prescription rule violations: {violations}").format(
            prescriptions=section["prescriptions"], dispenses=section["dispenses"], cross=section["cross_border_dispenses"], countries=countries,
            pharmacies=", ".join(f"{row['name']} {row['dispenses']}" for row in section["per_pharmacy"]), violations=len(violations)))
