"""The consultation is paid by the patient's health e-card: programme, card, pre-authorisation, claim, the patient's
confirmation in the wallet, approval and settlement from escrow, and a travel allowance."""

from __future__ import annotations

from typing import Any

from i18n import _
from i18n.formatting import money_text
from ledger.chain import Ledger
from wallet.demo.care import CrossBorderCare
from wallet.demo.consortium import YINCHUAN
from wallet.demo.institutions import InstitutionApi
from wallet.demo.narration import Narrator

CURRENCY = "CNY"
CONSULT_PACKAGE = "CARDIO-TELECONSULT"
CONSULT_PRICE = 120_000  # minor units: 1,200.00 CNY
TRAVEL_ALLOWANCE = 300_000  # 3,000.00 CNY


def _money(minor: int) -> str:
    return money_text(minor, CURRENCY)


class ECardPayment:
    def __init__(self, narrator: Narrator, ledger: Ledger, care: CrossBorderCare, fund: InstitutionApi, provider: InstitutionApi) -> None:
        self.n = narrator
        self.ledger = ledger
        self.care = care
        self.fund = fund
        self.provider = provider

    def _ok(self, reply: Any, what: str, status: int = 200) -> dict[str, Any]:
        self.n.check(reply.status_code in (status, 200, 201), _("{step} failed: {status} {answer}").format(step=what, status=reply.status_code, answer=reply.text[:400]))
        return reply.json()

    def run(self) -> None:
        self.n.chapter(_("The consultation is paid by the patient's health e-card"))
        fund, provider, patient = self.fund, self.provider, self.care.address
        programme = self._ok(fund.call("POST", "/v1/payments/programmes", json={
            "name": "Cross-border cardiology care", "currency": CURRENCY, "default_annual_limit": 5_000_000,
            "auto_approval_threshold": 200_000, "pre_auth_validity_seconds": 30 * 86400,
        }), _("creating the programme"))
        pid = programme["programme_id"]
        self._ok(fund.call("POST", f"/v1/payments/programmes/{pid}/providers", json={"provider": provider.institution.identity.address, "empanelled": True}), _("empanelling Yinchuan"))
        escrow = self._ok(fund.call("POST", f"/v1/payments/programmes/{pid}/escrow", json={"amount": 10_000_000}), _("funding the escrow"))
        valid_until = int(self.ledger.w3.eth.get_block("latest")["timestamp"]) + 365 * 86400
        card = self._ok(fund.call("POST", f"/v1/payments/programmes/{pid}/cards", json={"patient": patient, "annual_limit": 0, "valid_until": valid_until}), _("issuing the card"))
        card_id = card["card_id"]
        self.n.say(_("{fund}: programme #{programme} (annual limit {limit}), escrow {escrow}, Yinchuan empanelled, card #{card} issued").format(
            fund=fund.institution.name, programme=pid, limit=_money(5_000_000), escrow=_money(int(escrow["escrow_balance"])), card=card_id))

        eligibility = self._ok(provider.call("GET", f"/v1/payments/cards/{card_id}/eligibility"), _("checking eligibility"))
        self.n.check(bool(eligibility["eligible"]), _("the card is not eligible: {answer}").format(answer=eligibility))
        pre_auth = self._ok(provider.call("POST", "/v1/payments/pre-auths", json={"card_id": card_id, "package_code": CONSULT_PACKAGE, "amount": CONSULT_PRICE}), _("the pre-authorisation"))
        self.n.say(_("{provider}: card eligible ({remaining} left); pre-authorisation #{pre_auth} for {package}: {state}").format(
            provider=YINCHUAN, remaining=_money(int(eligibility["remaining"])), pre_auth=pre_auth["pre_auth_id"], package=CONSULT_PACKAGE,
            state=_("auto-approved") if pre_auth["auto_approved"] else _("pending")))
        claim = self._ok(provider.call("POST", "/v1/payments/claims", json={
            "card_id": card_id, "record_id": self.care.report_id, "package_code": CONSULT_PACKAGE, "amount": CONSULT_PRICE, "pre_auth_id": pre_auth["pre_auth_id"],
        }), _("submitting the claim"))
        claim_id = claim["claim_id"]
        self.n.say(_("{provider}: claim #{claim} for {amount}, evidence = its anchored diagnostic report").format(provider=YINCHUAN, claim=claim_id, amount=_money(CONSULT_PRICE)))

        self.care.patient.run("claims", "confirm", str(claim_id), "--yes")
        paid = self._ok(fund.call("POST", f"/v1/payments/claims/{claim_id}/approve", json={"override_confirmation": False}), _("approving the claim"))
        self.n.check(bool(paid.get("paid")), _("the claim was not paid: {answer}").format(answer=paid))
        self.n.say(_("{fund} approves claim #{claim}: {amount} paid to {provider} from escrow in the same transaction").format(
            fund=fund.institution.name, claim=claim_id, amount=_money(int(paid["amount"])), provider=YINCHUAN))
        again = fund.call("POST", f"/v1/payments/claims/{claim_id}/approve", json={"override_confirmation": False})
        self.n.check(again.status_code >= 400, _("a claim was paid twice"))
        self.n.say(_("approving it again -> [red]{status}[/] {detail}").format(status=again.status_code, detail=again.json().get("detail", "")[:120]))

        self._ok(fund.call("POST", f"/v1/payments/cards/{card_id}/disbursements", json={"purpose_code": "TRAVEL", "amount": TRAVEL_ALLOWANCE}), _("the travel allowance"), 201)
        self.n.say(_("travel allowance of {amount} disbursed to the patient for the trip to Yinchuan").format(amount=_money(TRAVEL_ALLOWANCE)))
        statement = self._ok(fund.call("GET", f"/v1/payments/programmes/{pid}/statement"), _("the programme statement"))
        self.n.check(bool(statement.get("balanced")), _("the escrow does not balance: {answer}").format(answer=statement))
        self.n.say(_("programme statement: funded = escrow + paid + disbursed [green](balanced)[/]"))
        self.care.patient.run("card", "show")
