"""Chapters 4-9: a patient in Benin consents, Lokossa records an ECG, Yinchuan reads it and reports, the patient
sees who looked, revokes, and Yinchuan's next read is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from i18n import _, quoted
from i18n.formatting import number_text
from network.settings import NetworkSettings
from wallet.demo.consortium import LOKOSSA, YINCHUAN
from wallet.demo.institutions import InstitutionApi
from wallet.demo.narration import DemoFailure, Narrator
from wallet.demo.resources import ecg_interpretation, twelve_lead_ecg

PATIENT_PASSWORD = "demo-only-patient-password"


class PatientAtTheCli:
    """The patient, typing `healthsilk ...` commands (run for real, output shown)."""

    def __init__(self, settings: NetworkSettings, narrator: Narrator, home_api: str) -> None:
        self.n = narrator
        self.wallet = settings.root / "demo" / "patient-wallet.json"
        self.env = {
            **os.environ,
            "HEALTHSILK_DATA_DIR": str(settings.root),
            "HEALTHSILK_WALLET": str(self.wallet),
            "HEALTHSILK_WALLET_PASSWORD": PATIENT_PASSWORD,
            "HEALTHSILK_WALLET_SCRYPT_N": str(2**14),  # demo only: a lighter password cost keeps the story quick
            "HEALTHSILK_API_URL": home_api,
            "COLUMNS": os.environ.get("COLUMNS", "120"),
        }

    def run(self, *args: str, show: bool = True) -> str:
        self.n.say(f"[bold]$ healthsilk {' '.join(_quoted(a) for a in args)}[/]")
        result = subprocess.run([sys.executable, "-m", "wallet.cli", *args], env=self.env, capture_output=True, text=True, timeout=300)
        if show:
            for line in (result.stderr + result.stdout).strip().splitlines():
                self.n.say(f"    {line}")
        if result.returncode != 0:
            raise DemoFailure(_("`healthsilk {command}` failed (exit {code}): {error}").format(command=" ".join(args), code=result.returncode, error=result.stderr.strip()[-500:]))
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json", show=False))


def _yes_no(value: object) -> str:
    return _("yes") if value else _("no")


def _quoted(arg: str) -> str:
    return f'"{arg}"' if " " in arg or "'" in arg else arg


class CrossBorderCare:
    def __init__(self, settings: NetworkSettings, narrator: Narrator, apis: dict[str, InstitutionApi]) -> None:
        self.n = narrator
        self.lokossa = apis[LOKOSSA]
        self.yinchuan = apis[YINCHUAN]
        self.patient = PatientAtTheCli(settings, narrator, self.lokossa.url)
        self.address = ""
        self.ecg_id = ""
        self.report_id = ""

    def run(self) -> None:
        self.wallet_and_consent()
        self.ecg_in_lokossa()
        self.read_in_yinchuan()

    def wallet_and_consent(self) -> None:
        self.n.chapter(_("A patient in Lokossa creates a wallet and consents"))
        self.patient.wallet.unlink(missing_ok=True)
        self.patient.run("wallet", "create")
        self.address = self.patient.json("wallet", "show")["address"]
        self.n.say(_("the patient is {address} on the ledger — no name, no national ID, only this address").format(address=self.address))
        self.patient.run("consent", "grant", "--to", LOKOSSA, "--categories", "ECG,LAB", "--purposes", "TREATMENT", "--days", "365", "--yes")
        self.patient.run("consent", "grant", "--to", "Yinchuan", "--categories", "ECG", "--purposes", "TREATMENT,PAYMENT", "--days", "30", "--yes")
        consents = self.patient.json("consent", "list")
        active = {c.get("grantee_name") for c in consents if c.get("status") == "ACTIVE"}
        self.n.check({LOKOSSA, YINCHUAN} <= active, _("expected active consents for both hospitals, found {found}").format(found=sorted(active)))

    def ecg_in_lokossa(self) -> None:
        self.n.chapter(_("Lokossa records a 12-lead ECG; only its hash and CID go on chain"))
        reply = self.lokossa.call("POST", f"/v1/patients/{self.address}/records", json=twelve_lead_ecg())
        self.n.check(reply.status_code == 201, _("Lokossa's upload failed: {status} {answer}").format(status=reply.status_code, answer=reply.text[:300]))
        (uploaded,) = reply.json()
        self.ecg_id = uploaded["record_id"]
        self.n.say(_("record {record}… category {category}, sha256 {hash}…, CID {cid}…").format(
            record=self.ecg_id[:18], category=uploaded["category"], hash=uploaded["content_hash"][:18], cid=uploaded["cid"][:24]))
        self.n.say(_("anchored in block {block} (transaction {transaction}…); the payload is encrypted in IPFS").format(block=uploaded["block_number"], transaction=uploaded["transaction_hash"][:18]))

    def read_in_yinchuan(self) -> None:
        self.n.chapter(_("Cardiologists in Yinchuan verify and read the ECG, then report"))
        verification = self.yinchuan.call("GET", f"/v1/records/{self.ecg_id}/verification").json()
        self.n.check(verification.get("sha256_ok") is True and verification.get("cid_ok") is True, _("verification failed: {answer}").format(answer=verification))
        self.n.say(_("verification without decryption: author active: {active}, sha256 ok, CID ok, erased: {erased}").format(
            active=_yes_no(verification.get("author_active")), erased=_yes_no(verification.get("erased"))))
        reply = self.yinchuan.call("GET", f"/v1/records/{self.ecg_id}", params={"purpose": "TREATMENT"})
        self.n.check(reply.status_code == 200, _("Yinchuan could not read the ECG: {status} {answer}").format(status=reply.status_code, answer=reply.text[:300]))
        ecg = reply.json()
        leads = [c["code"]["coding"][0]["display"] for c in ecg.get("component", [])]
        self.n.check(len(leads) == 12, _("expected 12 leads, got {count}").format(count=len(leads)))
        # The coding displays are the clinician's FHIR text: quoted as recorded, never translated.
        self.n.say(_("decrypted in Yinchuan: {study}, {count} leads ({leads} …), {samples} samples each").format(
            study=quoted(ecg["code"]["coding"][0]["display"]), count=len(leads), leads=quoted(", ".join(leads[:3])), samples=number_text(2500)))
        reply = self.yinchuan.call("POST", f"/v1/patients/{self.address}/records", json=ecg_interpretation(self.ecg_id))
        self.n.check(reply.status_code == 201, _("Yinchuan's report upload failed: {status} {answer}").format(status=reply.status_code, answer=reply.text[:300]))
        self.report_id = reply.json()[0]["record_id"]
        self.n.say(_("Yinchuan's diagnostic report anchored as record {record}…").format(record=self.report_id[:18]))

    def patient_reviews(self) -> None:
        self.n.chapter(_("The patient lists her records and sees who looked"))
        records = self.patient.json("records", "list")
        ids = {r["record_id"] for r in records}
        self.n.check({self.ecg_id, self.report_id} <= ids, _("the patient does not see both records"))
        self.patient.run("records", "list")
        self.patient.run("records", "show", self.report_id)
        log = self.patient.json("access-log")
        readers = {entry.get("reader_name") for entry in log}
        self.n.check(YINCHUAN in readers, _("the access log does not show Yinchuan's read: {readers}").format(readers=readers))
        self.patient.run("access-log")

    def revoke_and_refuse(self) -> None:
        self.n.chapter(_("The patient revokes; Yinchuan's next read is refused"))
        self.patient.run("consent", "revoke", "--from", "Yinchuan", "--yes")
        reply = self.yinchuan.call("GET", f"/v1/records/{self.ecg_id}", params={"purpose": "TREATMENT"})
        self.n.check(reply.status_code in (403, 409), _("Yinchuan could still read after the revocation: {status}").format(status=reply.status_code))
        problem = reply.json()
        self.n.say(_("Yinchuan reads again -> [red]{status} {title}[/]: {detail}").format(status=reply.status_code, title=problem.get("title"), detail=problem.get("detail")))

