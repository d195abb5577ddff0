"""The referral chapters (issue 12): Lokossa refers the 12-lead ECG to Yinchuan (one-to-one); the patient approves in
her wallet after reading the plain words; Yinchuan accepts, reads within seconds (its key released by Lokossa's API),
answers and claims the teleconsultation on her e-card; Lokossa reads the answer. A serious case then goes to a panel,
Yinchuan and Almaty: both answer apart, Lokossa reads both and closes; a read after closing is refused; the auditor's
replay of the cases is clean and gives the turnaround figures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from care.cases_fhir import ecg_report
from i18n import _, ngettext
from ledger.audit import AuditOptions, run_audit
from ledger.chain import Ledger
from wallet.demo.care import CrossBorderCare
from wallet.demo.consortium import ALMATY, FUND, LOKOSSA, YINCHUAN
from wallet.demo.institutions import InstitutionApi
from wallet.demo.narration import DemoFailure, Narrator

PACKAGE = "TELECONSULT"
PRICE = 40_000  # minor units of the programme's currency: 400.00


class StaffAtTheCli:
    """An institution's staff typing `healthsilk case ...` with their API token (from the environment: never shown)."""

    def __init__(self, narrator: Narrator, api: InstitutionApi, base_env: dict[str, str]) -> None:
        self.n = narrator
        self.name = api.institution.name
        self.env = {**base_env, "HEALTHSILK_API_URL": api.url, "HEALTHSILK_API_TOKEN": api.token}

    def run(self, *args: str, show: bool = True) -> str:
        self.n.say(f"[bold]{self.name}$ healthsilk {' '.join(args)}[/]")
        result = subprocess.run([sys.executable, "-m", "wallet.cli", *args], check=False, env=self.env, capture_output=True, text=True, timeout=300)
        if show:
            for line in (result.stderr + result.stdout).strip().splitlines()[:12]:
                self.n.say(f"    {line}")
        if result.returncode != 0:
            raise DemoFailure(_("`healthsilk {command}` at {institution} failed (exit {code}): {error}").format(
                command=" ".join(args), institution=self.name, code=result.returncode, error=(result.stderr + result.stdout).strip()[-500:]))
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json", show=False))


class ReferralChapter:
    def __init__(self, narrator: Narrator, ledger: Ledger, care: CrossBorderCare, apis: dict[str, InstitutionApi]) -> None:
        self.n = narrator
        self.ledger = ledger
        self.care = care
        self.apis = apis
        base = {k: v for k, v in care.patient.env.items() if k not in ("HEALTHSILK_WALLET", "HEALTHSILK_WALLET_PASSWORD")}
        self.lokossa = StaffAtTheCli(narrator, apis[LOKOSSA], base)
        self.yinchuan = StaffAtTheCli(narrator, apis[YINCHUAN], base)
        self.almaty = StaffAtTheCli(narrator, apis[ALMATY], base)

    def run(self) -> None:
        self.one_to_one()
        self.panel()
        self.audit()

    # ------------------------------------------------------------------------------------------------- one-to-one
    def one_to_one(self) -> None:
        self.n.chapter(_("Lokossa refers the 12-lead ECG to Yinchuan: a one-to-one teleconsultation case"))
        patient = self.care.patient
        # The request is a ServiceRequest record (category REFERRAL): Lokossa needs her consent for it.
        patient.run("consent", "grant", "--to", LOKOSSA, "--categories", "ECG,LAB,REFERRAL", "--purposes", "TREATMENT", "--days", "365", "--yes")
        opened = self.lokossa.json("case", "open", "--patient", self.care.address, "--to", YINCHUAN, "--priority", "urgent",
                                   "--ask", "Please interpret this resting 12-lead ECG (palpitations, 54-year-old woman).", "--attach", self.care.ecg_id)
        case_id = str(opened["case_id"])
        self.n.say(_("case {case}… opened in block {block}: only ids, parties, state and times are on chain; the request itself is an encrypted record").format(
            case=case_id[:18], block=opened["block_number"]))
        self.yinchuan.run("case", "list", "--role", "in")
        self.n.say(_("the patient reads what she is asked to sign, then approves from her wallet"))
        patient.run("case", "approve", case_id, "--days", "14", "--yes")
        self.yinchuan.run("case", "accept", case_id)
        accepted = time.monotonic()
        ecg = json.loads(self.yinchuan.run("case", "read", case_id, self.care.ecg_id, show=False))
        first_read = time.monotonic() - accepted
        leads = len(ecg.get("component", []))
        self.n.check(leads == 12, _("Yinchuan did not decrypt the 12 leads under the case: {leads}").format(leads=leads))
        self.n.say(_("Yinchuan decrypted the ECG ({leads} leads) {seconds:.1f} s after accepting: Lokossa's API released the key by itself after checking the case on chain").format(
            leads=leads, seconds=first_read))
        report_file = self._file("case-report.json", ecg_report("Sinus rhythm 72 bpm, normal axis, no acute ST-T change. Palpitations not explained by this tracing; suggest 24 h Holter.", YINCHUAN))
        answered = self.yinchuan.json("case", "answer", case_id, "--file", str(report_file))
        answer_id = str(answered["record_id"])
        self.n.say(_("Yinchuan's DiagnosticReport {record}… is anchored and linked to the case").format(record=answer_id[:18]))
        reading = json.loads(self.lokossa.run("case", "read", case_id, answer_id, show=False))
        self.n.check("Sinus rhythm" in str(reading.get("conclusion")), _("Lokossa could not read Yinchuan's answer"))
        self.n.say(_("Lokossa reads the answer (key released by Yinchuan's API): “{conclusion}”").format(conclusion=reading["conclusion"][:80]))
        self._claim(answer_id)
        self.lokossa.run("case", "close", case_id)
        self.first_case = case_id

    def _claim(self, answer_id: str) -> None:
        """Yinchuan claims the teleconsultation on her e-card, with its answer as evidence."""
        fund, yinchuan = self.apis[FUND], self.apis[YINCHUAN]
        cards = fund.call("GET", f"/v1/patients/{self.care.address}/cards")
        active = [c for c in cards.json() if c.get("status") == "ACTIVE"] if cards.status_code == 200 else []
        if not active:
            self.n.say(_("no active e-card for her: no claim for the teleconsultation"))
            return
        card_id = active[0]["card_id"]
        claim = yinchuan.call("POST", "/v1/payments/claims", json={"card_id": card_id, "record_id": answer_id, "package_code": PACKAGE, "amount": PRICE})
        self.n.check(claim.status_code == 201, _("Yinchuan's teleconsultation claim failed: {status} {answer}").format(status=claim.status_code, answer=claim.text[:300]))
        claim_id = claim.json()["claim_id"]
        self.care.patient.run("claims", "confirm", str(claim_id), "--yes")
        paid = fund.call("POST", f"/v1/payments/claims/{claim_id}/approve", json={"override_confirmation": False})
        self.n.check(paid.status_code == 200 and bool(paid.json().get("paid")), _("the teleconsultation claim was not paid: {status} {answer}").format(status=paid.status_code, answer=paid.text[:300]))
        self.n.say(_("claim #{claim} ({package}) paid to Yinchuan from the fund's escrow; its evidence is the case answer").format(claim=claim_id, package=PACKAGE))

    # ------------------------------------------------------------------------------------------------- panel
    def panel(self) -> None:
        self.n.chapter(_("A serious case goes to a panel: Yinchuan and Almaty answer apart, Lokossa closes"))
        patient = self.care.patient
        attached = f"{self.care.ecg_id},{self.care.report_id}"  # the ECG, and Yinchuan's earlier report on it
        opened = self.lokossa.json("case", "open", "--patient", self.care.address, "--to", f"{YINCHUAN},{ALMATY}", "--priority", "stat",
                                   "--ask", "Panel opinion: recurrent syncope with the attached ECG; is an electrophysiology study indicated?", "--attach", attached)
        case_id = str(opened["case_id"])
        self.n.say(_("panel case {case}… (stat: two hours to the deadline)").format(case=case_id[:18]))
        # Her wallet sends Almaty the key of the report Yinchuan wrote; Lokossa's API releases its own ECG.
        patient.run("case", "approve", case_id, "--days", "7", "--yes")
        answers: dict[str, str] = {}
        # Yinchuan's standing consent covers ECG: it answers with an ECG DiagnosticReport. Almaty had none: the wallet
        # gave it one for new REFERRAL and ECG records with the approval, and it answers in words (a Communication).
        yinchuan_file = self._file("panel-yinchuan.json", ecg_report("Syncope with a normal resting ECG: recommend a tilt test before any EP study.", YINCHUAN))
        for staff, answer in ((self.yinchuan, ("--file", str(yinchuan_file))),
                              (self.almaty, ("--text", "Agree no urgent EP study; add echocardiography to exclude structural disease."))):
            staff.run("case", "accept", case_id)
            for record in (self.care.ecg_id, self.care.report_id):
                json.loads(staff.run("case", "read", case_id, record, show=False))
            answers[staff.name] = str(staff.json("case", "answer", case_id, *answer)["record_id"])
            self.n.say(_("{institution} read the ECG and the earlier report under the case and answered ({record}…)").format(institution=staff.name, record=answers[staff.name][:18]))
        refused = self._fails(self.almaty, "case", "read", case_id, answers[YINCHUAN])
        self.n.check(refused, _("Almaty read Yinchuan's answer without the requester sharing it"))
        self.n.say(_("Almaty asks for Yinchuan's answer -> refused on chain: panel members do not see each other's answers unless Lokossa shares them"))
        for name, record in answers.items():
            resource = json.loads(self.lokossa.run("case", "read", case_id, record, show=False))
            text = resource.get("conclusion") or resource.get("payload", [{}])[0].get("contentString", "")
            self.n.say(_("Lokossa reads {institution}: “{text}”").format(institution=name, text=text))
        self.lokossa.run("case", "show", case_id)
        self.lokossa.run("case", "close", case_id)
        late = self._fails(self.yinchuan, "case", "read", case_id, self.care.ecg_id)
        self.n.check(late, _("Yinchuan could still read after the case was closed"))
        self.n.say(_("Yinchuan reads the ECG again after closing -> refused: the case consent is over"))

    # ------------------------------------------------------------------------------------------------- audit
    def audit(self) -> None:
        self.n.chapter(_("The auditor's replay: every case read inside its case, every answer from an accepting consultant"))
        report = run_audit(self.ledger, AuditOptions()).report["report"]
        section = report["flows"]["cases"]
        violations = [v for v in report["violations"] if v["rule"].startswith("case-")]
        self.n.check(not violations, _("the audit found case violations: {violations}").format(violations=violations))
        self.n.say(_("{cases} cases, {closed} closed, {answers} answers, {overdue} overdue; case rule violations: 0").format(
            cases=section["cases"], closed=section["closed"], answers=section["answers"], overdue=section["overdue"]))
        for pair in section["per_country_pair"]:
            self.n.say(ngettext("{pair}: {cases} consultation, median {accept} h to accept, {answer} h to answer",
                                "{pair}: {cases} consultations, median {accept} h to accept, {answer} h to answer", pair["cases"]).format(
                pair=pair["pair"], cases=pair["cases"], accept=pair["median_hours_to_accept"], answer=pair["median_hours_to_answer"]))

    # ------------------------------------------------------------------------------------------------- helpers
    def _file(self, name: str, resource: dict[str, Any]) -> Path:
        path = Path(self.care.patient.env["HEALTHSILK_DATA_DIR"]) / "demo" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(resource))
        return path

    def _fails(self, staff: StaffAtTheCli, *args: str) -> bool:
        result = subprocess.run([sys.executable, "-m", "wallet.cli", *args], check=False, env=staff.env, capture_output=True, text=True, timeout=300)
        return result.returncode != 0 and "403" in (result.stderr + result.stdout)

