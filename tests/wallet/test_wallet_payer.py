"""`healthsilk payer`: a payer runs a programme from the CLI over its own institution API (token scopes read,
write), against the real payments contract on geth (issue 17, section 5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crypto import KeyFile
from tests.api.api_world import ecg_observation
from tests.conftest import RunningNetwork
from tests.support.chain_clock import chain_now
from tests.wallet.conftest import ApiServer, admit, running_api
from wallet.cli import app

runner = CliRunner()
YEAR = 365 * 86400


def cli(*args: str, input: str | None = None) -> Any:
    result = runner.invoke(app, list(args), input=input)
    assert "Traceback" not in result.output, result.output
    return result


def test_payer_runs_a_programme_from_the_cli(chain: RunningNetwork, hospital_api: ApiServer, wallet_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payer_member = admit(chain, "wallet-e2e-payer-cli", "Almaty Health Fund", "KZ", ["PAYER"])
    assert cli("wallet", "create").exit_code == 0
    patient = KeyFile.read(wallet_env).address
    assert cli("consent", "grant", "--to", hospital_api.institution.name, "--categories", "ECG", "--yes", "--api", hospital_api.url).exit_code == 0
    with running_api(chain, payer_member, tmp_path / "payer-api") as payer:
        monkeypatch.setenv("HEALTHSILK_API_TOKEN", payer.token("read", "write"))
        api = ("--api", payer.url)

        missing = cli("payer", "programme", "--name", "x", "--api", payer.url, "--token", "hs_not-a-token", "--yes")
        assert missing.exit_code == 1 and "401" in missing.output

        created = cli("payer", "programme", "--name", "Almaty cross-border care", "--currency", "KZT", "--annual-limit", "10000", "--yes", "--json", *api)
        assert created.exit_code == 0, created.output
        programme = json.loads(created.stdout)
        pid = str(programme["programme_id"])
        assert programme["default_annual_limit"] == 10000_00 and programme["payer"] == payer_member.address

        declined = cli("payer", "empanel", pid, hospital_api.institution.name, *api, input="n\n")
        assert declined.exit_code == 1 and "Nothing was done" in declined.output and "may then claim" in declined.output.replace("\n", " ")
        empanelled = cli("payer", "empanel", pid, hospital_api.institution.name, "--yes", *api)
        assert empanelled.exit_code == 0 and "is empanelled" in empanelled.output, empanelled.output
        bad_amount = cli("payer", "fund", pid, "12.345", "--yes", *api)
        assert bad_amount.exit_code == 1 and "at most 2 decimals" in bad_amount.output
        funded = cli("payer", "fund", pid, "50000", "--yes", *api)
        assert funded.exit_code == 0 and "50,000.00 KZT" in funded.output, funded.output

        until = datetime.fromtimestamp(chain_now(chain.w3) + YEAR, tz=UTC).date().isoformat()
        issued = cli("payer", "card", pid, patient, "--valid-until", until, "--yes", "--json", *api)
        assert issued.exit_code == 0, issued.output
        card_id = json.loads(issued.stdout)["card_id"]

        with hospital_api.client("read", "write") as ehr:
            (record,) = ehr.post(f"/v1/patients/{patient}/records", json=ecg_observation(seed=21)).json()
            claim_ids = []
            for amount, package in ((1_200_00, "CARDIO-CONSULT"), (300_00, "ECG-READING")):  # one claim per record and package
                claim = ehr.post("/v1/payments/claims", json={"card_id": card_id, "record_id": record["record_id"], "package_code": package, "amount": amount})
                assert claim.status_code == 201, claim.text
                claim_ids.append(str(claim.json()["claim_id"]))

        listed = cli("payer", "claims", "--patient", patient, *api)
        assert listed.exit_code == 0 and "1,200.00 KZT" in listed.output and "not confirmed by the patient yet" in listed.output, listed.output
        unconfirmed = cli("payer", "approve", claim_ids[0], "--yes", *api)
        assert unconfirmed.exit_code == 1 and "has not confirmed" in unconfirmed.output
        paid = cli("payer", "approve", claim_ids[0], "--override-confirmation", "--yes", *api)
        assert paid.exit_code == 0 and "1,200.00 KZT" in paid.output and "48,800.00 KZT" in paid.output, paid.output
        rejected = cli("payer", "reject", claim_ids[1], "--reason-code", "7", "--yes", *api)
        assert rejected.exit_code == 0 and "rejected" in rejected.output, rejected.output

        statement = cli("payer", "statement", pid, *api)
        words = statement.output.replace("\n", " ")
        assert statement.exit_code == 0 and "50,000.00 KZT" in words and "1,200.00 KZT" in words and "yes" in words, statement.output
        (shown,) = json.loads(cli("payer", "claims", "--claim", claim_ids[1], "--json", *api).stdout)
        assert shown["status"] == "REJECTED"
