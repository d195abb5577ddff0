"""The patient's e-health card through the wallet, against real institution APIs on the real network.

A PAYER member's API issues the card and pays; the hospital (PROVIDER) anchors an ECG and claims for it; the
patient sees card and claim in plain words, refuses a tampered confirmation, confirms the real one (signed in the
wallet, relayed by the hospital) and then sees the payment in the card's history.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from typer.testing import CliRunner

from crypto import KeyFile
from ledger.payments import HealthCardPayments
from tests.api.api_world import ecg_observation
from tests.conftest import RunningNetwork
from tests.payments.conftest import PROGRAMME, YEAR
from tests.wallet.conftest import ApiServer, admit, running_api
from wallet.cli import app
from tests.support.chain_clock import chain_now

runner = CliRunner()
CLAIMED = 1_200_00  # 1,200.00 KZT


def cli(*args: str, input: str | None = None) -> Any:
    result = runner.invoke(app, list(args), input=input)
    assert "Traceback" not in result.output, result.output
    return result


@contextmanager
def tampering_proxy(upstream: str, tamper: Callable[[dict[str, Any]], None]) -> Iterator[tuple[str, list[str]]]:
    """A man in the middle that rewrites the ConfirmClaim the API asks the wallet to sign."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            seen.append(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() in {"authorization", "content-type", "accept"}}
            answer = httpx.request(self.command, upstream + self.path, content=body, headers=headers)
            content = answer.content
            if self.path.endswith("/confirmation/prepare") and answer.status_code == 200:
                document = answer.json()
                tamper(document["typed_data"])
                content = json.dumps(document).encode()
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = _forward

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _programme_with_card(payer: ApiServer, provider: str, patient: str, now: int) -> tuple[int, int]:
    with payer.client("read", "write") as client:
        body = {**PROGRAMME.model_dump(exclude={"pre_auth_validity"}), "pre_auth_validity_seconds": PROGRAMME.pre_auth_validity}
        programme_id = client.post("/v1/payments/programmes", json=body).json()["programme_id"]
        assert client.post(f"/v1/payments/programmes/{programme_id}/providers", json={"provider": provider, "empanelled": True}).status_code == 200
        assert client.post(f"/v1/payments/programmes/{programme_id}/escrow", json={"amount": 5_000_000}).status_code == 200
        card = client.post(f"/v1/payments/programmes/{programme_id}/cards", json={"patient": patient, "annual_limit": 0, "valid_until": now + YEAR})
        assert card.status_code == 201, card.text
    return programme_id, int(card.json()["card_id"])


def test_card_claim_confirmation_and_payment(chain: RunningNetwork, hospital_api: ApiServer, wallet_env: Path, tmp_path: Path) -> None:
    payer_member = admit(chain, "wallet-e2e-payer", "Kazakhstan Mandatory Health Insurance Fund", "KZ", ["PAYER"])
    api = ("--api", hospital_api.url)
    assert cli("wallet", "create").exit_code == 0
    patient = KeyFile.read(wallet_env)
    assert cli("card", "show", *api).stdout.startswith("You have no e-health card")

    # Treatment: the patient consents, the hospital anchors an ECG; the payer issues a card; the hospital claims.
    assert cli("consent", "grant", "--to", "Lokossa Heart Clinic", "--categories", "ECG", "--yes", *api).exit_code == 0
    with hospital_api.client("read", "write") as ehr:
        (record,) = ehr.post(f"/v1/patients/{patient.address}/records", json=ecg_observation()).json()
        with running_api(chain, payer_member, tmp_path / "payer-api") as payer:
            _, card_id = _programme_with_card(payer, hospital_api.institution.address, patient.address, chain_now(chain.w3))
            claim = ehr.post("/v1/payments/claims", json={"card_id": card_id, "record_id": record["record_id"], "package_code": "CARDIO-CONSULT", "amount": CLAIMED})
            assert claim.status_code == 201, claim.text
            claim_id = claim.json()["claim_id"]

            (card,) = json.loads(cli("card", "show", "--json", *api).stdout)
            assert (card["card_id"], card["currency"], card["reserved"], card["status"]) == (card_id, "KZT", CLAIMED, "ACTIVE")
            shown = cli("card", "show", *api).stdout
            assert PROGRAMME.name in shown and "10,000.00 KZT" in shown and "8,800.00 KZT" in shown
            (listed,) = json.loads(cli("claims", "list", "--json", *api).stdout)
            assert listed["claim_id"] == claim_id and listed["confirmed"] is False and "waiting for your confirmation" in listed["summary"]
            assert "waiting for your confirmation" in cli("claims", "list", *api).stdout

            # Anything but exactly this claim, on this network's payments contract, is refused before signing.
            payments = HealthCardPayments(chain.ledger())
            nonce = payments.nonce(patient.address)
            attacker = Account.create().address
            tampers: dict[str, Callable[[dict[str, Any]], None]] = {
                "chain 1": lambda t: t["domain"].update(chainId=1),
                "HealthCardPayments": lambda t: t["domain"].update(verifyingContract=attacker),
                "not this wallet": lambda t: t["message"].update(patient=attacker),
                "amount": lambda t: t["message"].update(amount=CLAIMED * 10),
                "provider": lambda t: t["message"].update(provider=attacker),
                "far longer than needed": lambda t: t["message"].update(deadline=int(time.time()) + 30 * 86400),
            }
            for reason, tamper in tampers.items():
                with tampering_proxy(hospital_api.url, tamper) as (proxy, seen):
                    refused = cli("claims", "confirm", str(claim_id), "--yes", "--api", proxy)
                assert refused.exit_code == 3 and "Refusing to sign" in refused.output and reason in refused.output.replace("\n", " "), refused.output
                assert not any(path.endswith(f"/claims/{claim_id}/confirmation") for path in seen)

            declined = cli("claims", "confirm", str(claim_id), *api, input="n\n")
            assert declined.exit_code == 1 and "declined" in declined.output
            assert payments.nonce(patient.address) == nonce and payments.claim(claim_id).confirmed is False  # type: ignore[union-attr]

            confirmed = cli("claims", "confirm", str(claim_id), "--yes", *api)
            assert confirmed.exit_code == 0, confirmed.output
            words = confirmed.output.replace("\n", " ")
            for shown_text in (hospital_api.institution.name, "1,200.00 KZT", "CARDIO-CONSULT", record["record_id"], "your ECG record", "Claim " + str(claim_id) + " confirmed"):
                assert shown_text in words, (shown_text, confirmed.output)
            assert payments.claim(claim_id).confirmed is True  # type: ignore[union-attr]
            again = cli("claims", "confirm", str(claim_id), "--yes", *api)
            assert again.exit_code == 1 and "nothing to confirm" in again.output

            with payer.client("write") as client:
                paid = client.post(f"/v1/payments/claims/{claim_id}/approve", json={"override_confirmation": False})
                assert paid.status_code == 200 and paid.json()["paid"] is True, paid.text

    history = cli("card", "history", str(card_id), *api)
    assert history.exit_code == 0, history.output
    text = history.stdout.replace("\n", " ")
    assert "issued" in text and "paid: 1,200.00 KZT" in text and "confirmed by the patient" in text
    entries = json.loads(cli("card", "history", "--json", *api).stdout)
    assert [e["event"] for e in entries] == ["CardIssued", "ClaimSubmitted", "ClaimConfirmed", "ClaimPaid"]
    assert "paid" in cli("claims", "list", *api).stdout
    other = cli("card", "history", "999", *api)
    assert other.exit_code == 1 and "not one of your cards" in other.output
