"""The wallet against a real institution API on the real network: register, grant, list, revoke, delegate, and
refusing tampered requests before anything is signed."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from typer.testing import CliRunner

from crypto import KeyFile
from ledger.consent import ConsentLedger
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork
from tests.wallet.conftest import ApiServer, admit
from wallet.cli import app

runner = CliRunner()


def cli(*args: str, input: str | None = None) -> Any:
    result = runner.invoke(app, list(args), input=input)
    assert "Traceback" not in result.output, result.output
    return result


def test_grant_list_revoke_round_trip(chain: RunningNetwork, hospital_api: ApiServer, wallet_env: Path) -> None:
    yinchuan = admit(chain, "wallet-e2e-yinchuan", "Yinchuan Cardiology Centre", "CN", ["PROVIDER"])
    api = ("--api", hospital_api.url)
    assert cli("wallet", "create").exit_code == 0
    patient = KeyFile.read(wallet_env)
    consents = ConsentLedger(chain.ledger())
    assert cli("access-log", *api).output.startswith("Nobody has read")

    declined = cli("consent", "grant", "--to", "yinchuan cardiology", "--categories", "ECG,LAB", "--days", "30", *api, input="n\n")
    assert declined.exit_code == 1 and "declined" in declined.output
    assert consents.consent(patient.address, yinchuan.address).status == "NONE"

    granted = cli("consent", "grant", "--to", "yinchuan cardiology", "--categories", "ECG,LAB", "--purposes", "TREATMENT", "--days", "30", "--yes", *api)
    assert granted.exit_code == 0, granted.output
    assert "You are about to sign" in granted.output and "Yinchuan Cardiology Centre" in granted.output and "Consent granted" in granted.output
    # The first grant registered the wallet's HPKE key on the ledger, through the same relayed-signature path.
    assert consents.patient_key(patient.address) == patient.hpke_public_key.to_bytes()
    assert consents.is_permitted(patient.address, yinchuan.address, Category.ECG.bit, int(Purpose.TREATMENT))
    assert not consents.is_permitted(patient.address, yinchuan.address, Category.IMAGING.bit, int(Purpose.TREATMENT))

    (row,) = json.loads(cli("consent", "list", "--json", *api).stdout)
    assert row["grantee"] == yinchuan.address and row["status"] == "ACTIVE" and row["categories"] == ["LAB", "ECG"] and row["purposes"] == ["TREATMENT"]
    assert "Yinchuan" in cli("consent", "list", *api).stdout

    revoked = cli("consent", "revoke", "--from", yinchuan.address, "--yes", "--json", *api)
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.stdout)["block_number"] > 0
    assert consents.consent(patient.address, yinchuan.address).status == "REVOKED"
    assert not consents.is_permitted(patient.address, yinchuan.address, Category.ECG.bit, int(Purpose.TREATMENT))
    again = cli("consent", "revoke", "--from", "Yinchuan Cardiology Centre", "--yes", *api)
    assert again.exit_code == 1 and "no active consent" in again.output

    unknown = cli("consent", "grant", "--to", "Atlantis General", "--categories", "ECG", "--yes", *api)
    assert unknown.exit_code == 1 and "No member institution matches" in unknown.output and "Yinchuan" in unknown.output


def test_delegate_add_and_remove(chain: RunningNetwork, hospital_api: ApiServer, wallet_env: Path) -> None:
    api = ("--api", hospital_api.url)
    assert cli("wallet", "create").exit_code == 0
    patient = KeyFile.read(wallet_env)
    consents = ConsentLedger(chain.ledger())
    carer = Account.create().address
    added = cli("delegate", "add", carer, "--yes", *api)
    assert added.exit_code == 0, added.output
    assert consents.delegate_of(patient.address) == carer
    assert cli("delegate", "add", patient.address, "--yes", *api).exit_code == 1
    removed = cli("delegate", "remove", "--yes", *api)
    assert removed.exit_code == 0, removed.output and "Remove your delegate" in removed.output
    assert consents.delegate_of(patient.address) is None
    nothing = cli("delegate", "remove", "--yes", *api)
    assert nothing.exit_code == 1 and "no delegate" in nothing.output.lower()


# --- a man in the middle that rewrites what the API asks the wallet to sign -------------------------------
@contextmanager
def tampering_proxy(upstream: str, tamper: Callable[[dict[str, Any]], None]) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            seen.append(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() in {"authorization", "content-type", "accept"}}
            answer = httpx.request(self.command, upstream + self.path, content=body, headers=headers, timeout=120)  # a ceiling for a loaded machine
            content = answer.content
            if self.path == "/v1/consents/prepare" and answer.status_code == 200:
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


def test_tampered_requests_are_refused_before_signing(chain: RunningNetwork, hospital_api: ApiServer, wallet_env: Path) -> None:
    yinchuan = admit(chain, "wallet-e2e-yinchuan", "Yinchuan Cardiology Centre", "CN", ["PROVIDER"])
    assert cli("wallet", "create").exit_code == 0
    patient = KeyFile.read(wallet_env)
    assert cli("wallet", "register", "--yes", "--api", hospital_api.url).exit_code == 0
    consents = ConsentLedger(chain.ledger())
    nonce = consents.nonce(patient.address)
    attacker = Account.create().address
    tampers: dict[str, Callable[[dict[str, Any]], None]] = {
        "chain 1": lambda t: t["domain"].update(chainId=1),
        "ConsentLedger": lambda t: t["domain"].update(verifyingContract=attacker),
        "not this wallet": lambda t: t["message"].update(patient=attacker),
        "grantee": lambda t: t["message"].update(grantee=hospital_api.institution.address),
        "categories": lambda t: t["message"].update(categories=0x7F),
    }
    for reason, tamper in tampers.items():
        with tampering_proxy(hospital_api.url, tamper) as (proxy, seen):
            result = cli("consent", "grant", "--to", "Yinchuan Cardiology", "--categories", "ECG", "--yes", "--api", proxy)
        assert result.exit_code == 3, result.output
        assert "Refusing to sign" in result.output and reason in result.output.replace("\n", " ")
        assert "/v1/consents/prepare" in seen and "/v1/consents/relay" not in seen
    # Nothing reached the ledger: no consent, and the patient's nonce was never consumed.
    assert consents.consent(patient.address, yinchuan.address).status == "NONE"
    assert consents.consent(patient.address, hospital_api.institution.address).status == "NONE"
    assert consents.nonce(patient.address) == nonce
