"""The surveillance chapter (issue 15): Lokossa records malaria (the demo patient's blood smear and more patients)
and one cholera case; Yinchuan records imported malaria and a dengue case; both anchor their weekly reports (built
by their own APIs from their own records, small cells suppressed, sealed to the PUBLIC_HEALTH members); the cholera
case raises an alert that Yinchuan's API shows and acknowledges; the surveillance centre's dashboard shows both
countries with the small cells suppressed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from eth_account import Account

from care.publichealth import synthetic
from crypto import HpkePrivateKey
from i18n import _
from ledger.chain import Ledger
from ledger.publichealth import iso_week
from wallet.demo.care import CrossBorderCare
from wallet.demo.consortium import LOKOSSA, SURVEILLANCE, YINCHUAN
from wallet.demo.institutions import InstitutionApi
from wallet.demo.narration import DemoFailure, Narrator

# (sex, birth year) of the synthetic patients: enough malaria in each place for a count at or above k = 5.
LOKOSSA_MALARIA = [("female", 1994), ("male", 2016), ("female", 2019), ("male", 1978), ("female", 1988)]
YINCHUAN_MALARIA = [("male", 1985), ("male", 1979), ("male", 1990), ("female", 1992), ("male", 1969)]


class SurveillanceChapter:
    def __init__(self, narrator: Narrator, ledger: Ledger, care: CrossBorderCare, apis: dict[str, InstitutionApi], data_dir: Path) -> None:
        self.n = narrator
        self.ledger = ledger
        self.care = care
        self.lokossa, self.yinchuan, self.surveillance = apis[LOKOSSA], apis[YINCHUAN], apis[SURVEILLANCE]
        self.data_dir = data_dir
        self.week = 0
        self.cholera_alert = ""

    def run(self) -> None:
        self.cases_recorded()
        self.weekly_reports()
        self.alert_reaches_yinchuan()
        self.dashboard()

    # ------------------------------------------------------------------ helpers
    def _ok(self, reply: Any, what: str) -> Any:
        self.n.check(reply.status_code in (200, 201), _("{step} failed: {status} {answer}").format(step=what, status=reply.status_code, answer=reply.text[:400]))
        return reply.json()

    def _now(self) -> int:
        return int(self.ledger.w3.eth.get_block("latest")["timestamp"])

    def _patient(self, api: InstitutionApi, categories: list[str]) -> str:
        """A synthetic patient registers and consents at `api` (scripted signatures: no real person is behind them)."""
        account, key = Account.create(), HpkePrivateKey.generate()
        now = self._now()
        for body in ({"action": "register", "patient": account.address, "hpke_public_key": "0x" + key.public_key().to_bytes().hex()},
                     {"action": "grant", "patient": account.address, "grantee": api.institution.identity.address, "categories": categories, "purposes": ["TREATMENT"],
                      "valid_from": now - 60, "valid_until": now + 30 * 86400}):
            prepared = self._ok(api.call("POST", "/v1/consents/prepare", json=body), _("preparing a synthetic patient's signature"))
            signature = account.sign_typed_data(full_message=prepared["typed_data"]).signature.to_0x_hex()
            self._ok(api.call("POST", "/v1/consents/relay", json={"typed_data": prepared["typed_data"], "signature": signature}), _("relaying a synthetic patient's signature"))
        return str(account.address)

    def _put(self, api: InstitutionApi, patient: str, resource: dict[str, Any]) -> None:
        self._ok(api.call("POST", f"/v1/patients/{patient}/records", json=resource), _("uploading a case record"))

    def _cli(self, api: InstitutionApi, *args: str) -> str:
        self.n.say(f"[bold]$ healthsilk {' '.join(args)}[/]")
        env = {**os.environ, "HEALTHSILK_API_URL": api.url, "HEALTHSILK_API_TOKEN": api.token, "COLUMNS": os.environ.get("COLUMNS", "120")}
        result = subprocess.run([sys.executable, "-m", "wallet.cli", *args], env=env, capture_output=True, text=True, timeout=300, check=False)
        for line in (result.stderr + result.stdout).strip().splitlines():
            self.n.say(f"    {line}")
        if result.returncode != 0:
            raise DemoFailure(_("`healthsilk {command}` failed (exit {code}): {error}").format(command=" ".join(args), code=result.returncode, error=result.stderr.strip()[-500:]))
        return result.stdout

    # ------------------------------------------------------------------ the story
    def cases_recorded(self) -> None:
        self.n.chapter(_("Surveillance: Lokossa sees malaria and a cholera case; Yinchuan sees imported malaria and dengue"))
        now = self._now()
        self.week = iso_week(now)
        self._put(self.lokossa, self.care.address, synthetic.malaria_smear(now, "female", 1991))
        self.n.say(_("Lokossa's laboratory: the patient's blood smear is positive for Plasmodium (LOINC 51587-4)"))
        for sex, year in LOKOSSA_MALARIA:
            self._put(self.lokossa, self._patient(self.lokossa, ["SUMMARY", "LAB"]), synthetic.malaria(now, sex, year))
        self._put(self.lokossa, self._patient(self.lokossa, ["SUMMARY"]), synthetic.cholera(now, "male", 1983))
        self.n.say(_("Lokossa also records {malaria} malaria diagnoses (ICD-10 B50) and one cholera case (A00) from other patients").format(malaria=len(LOKOSSA_MALARIA)))
        for sex, year in YINCHUAN_MALARIA:
            self._put(self.yinchuan, self._patient(self.yinchuan, ["SUMMARY"]), synthetic.malaria(now, sex, year))
        self._put(self.yinchuan, self._patient(self.yinchuan, ["SUMMARY"]),
                  synthetic.condition("A90", "Dengue fever [classical dengue]", now, "female", 1997, snomed="38362002"))
        self.n.say(_("Yinchuan records {malaria} imported malaria cases and one dengue fever case").format(malaria=len(YINCHUAN_MALARIA)))

    def weekly_reports(self) -> None:
        self.n.chapter(_("Week {week}: each hospital's API builds its report from its own records and anchors it").format(week=self.week))
        self._cli(self.lokossa, "publichealth", "report", str(self.week), "--preview")
        self._cli(self.lokossa, "publichealth", "report", str(self.week))
        reply = self._ok(self.yinchuan.call("POST", "/v1/publichealth/reports", json={"week": self.week}), _("Yinchuan's weekly report"))
        self.n.say(_("Yinchuan's report {report} anchored in block {block}: {suppressed} small count(s) suppressed, sealed to the PUBLIC_HEALTH members").format(
            report=reply["report_id"], block=reply["block_number"], suppressed=reply["suppressed_cells"]))
        self.n.say(_("only counts leave the hospitals: no patient, record id, date finer than the week, or free text; the chain holds the hash and CID"))

    def alert_reaches_yinchuan(self) -> None:
        self.n.chapter(_("The cholera case raised an alert on chain; Yinchuan's API shows it"))
        inbox = self._ok(self.yinchuan.call("GET", "/v1/alerts"), _("Yinchuan's alert inbox"))
        cholera = [a for a in inbox if a.get("source") == "publichealth" and a["details"].get("disease") == "A00" and a["details"].get("week") == self.week]
        self.n.check(len(cholera) == 1, _("Yinchuan's inbox should show one cholera alert for week {week}, found {count}").format(week=self.week, count=len(cholera)))
        alert = cholera[0]
        self.cholera_alert = alert["id"]
        self.n.say(_("{id}: {disease} in {place}, week {week}, level {level}, rule {rule} — no patient data").format(
            id=alert["id"], disease=alert["details"]["disease_name"], place=alert["subject"], week=alert["details"]["week"], level=alert["level"], rule=alert["details"]["rule"]))
        self._cli(self.yinchuan, "publichealth", "alert", "ack", self.cholera_alert)

    def dashboard(self) -> None:
        self.n.chapter(_("The surveillance centre's dashboard: both countries, small cells suppressed"))
        page = self.data_dir / f"surveillance-{self.week}.html"
        self._cli(self.surveillance, "publichealth", "dashboard", "--to", str(self.week))
        self._cli(self.surveillance, "publichealth", "dashboard", "--to", str(self.week), "--html", str(page))
        board = self._ok(self.surveillance.call("GET", "/v1/publichealth/dashboard", params={"last_week": self.week}), _("the dashboard"))
        latest = {(s["disease"], s["country"]): s["points"][-1] for s in board["series"]}
        self.n.check({"BJ", "CN"} <= {country for _d, country in latest}, _("the dashboard should show Benin and China, shows {countries}").format(countries=sorted({c for _d, c in latest})))
        self.n.check(latest.get(("A00", "BJ"), {}).get("suppressed") is True, _("one cholera case must show as suppressed"))
        self.n.check(latest.get(("A90", "CN"), {}).get("suppressed") is True, _("one dengue case must show as suppressed"))
        self.n.check((latest.get(("B50", "BJ"), {}).get("count") or 0) >= 5, _("Benin's malaria count should be published"))
        self.n.check("<script" not in page.read_text(encoding="utf-8").lower(), _("the dashboard page must carry no script"))
        self.n.say(_("written to {path}: inline SVG charts, no scripts").format(path=str(page)))
