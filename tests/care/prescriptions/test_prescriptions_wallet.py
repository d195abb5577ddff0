"""The patient's and the staff's side of e-prescriptions through `healthsilk`, against real APIs on geth: the
prescriber issues with `rx issue`, the patient lists and presents with her wallet (which also gives the pharmacy
its DISPENSE consent), the pharmacy verifies and dispenses with `rx`, and the patient sees one repeat left."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crypto import KeyFile
from ledger.consent import ConsentLedger
from ledger.vocabulary import Category, Purpose
from tests.care.prescriptions.rx_api import Institution, medication_dispense, medication_request, start_institution
from tests.conftest import RunningNetwork
from wallet.cli import app

runner = CliRunner()
PASSWORD = "correct horse battery"


def cli(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def institutions(geth_network: RunningNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Institution, Institution]]:
    root = tmp_path_factory.mktemp("rx-wallet")
    started = [
        start_institution(geth_network, root, "Wallet Rx Hospital", "CN", ["PROVIDER"]),
        start_institution(geth_network, root, "Wallet Rx Pharmacy", "BJ", ["PROVIDER", "PHARMACY"]),
    ]
    try:
        yield started[0], started[1]
    finally:
        for institution in started:
            institution.stop()


def test_present_from_the_wallet_and_dispense_with_rx(geth_network: RunningNetwork, institutions: tuple[Institution, Institution], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hospital, pharmacy = institutions
    wallet = tmp_path / "wallet.json"
    for name, value in (("HEALTHSILK_WALLET", str(wallet)), ("HEALTHSILK_WALLET_PASSWORD", PASSWORD), ("HEALTHSILK_WALLET_SCRYPT_N", "1024"), ("COLUMNS", "240")):
        monkeypatch.setenv(name, value)
    api = ("--api", hospital.url)
    assert cli("wallet", "create").exit_code == 0
    patient = KeyFile.read(wallet).address
    granted = cli("consent", "grant", "--to", hospital.name, "--categories", "PRESCRIPTION", "--yes", *api)
    assert granted.exit_code == 0, granted.output

    request = tmp_path / "request.json"
    request.write_text(json.dumps(medication_request()))
    issued = cli("rx", "issue", "--patient", patient, "--request", str(request), "--repeats", "1", "--json", "--token", hospital.token, *api)
    assert issued.exit_code == 0, issued.output
    pid = json.loads(issued.stdout)["state"]["prescription_id"]

    (listed,) = json.loads(cli("prescriptions", "list", "--json", *api).stdout)
    assert listed["state"]["remaining"] == 2 and listed["dispenses"] == []

    staff = ("--api", pharmacy.url, "--token", pharmacy.token)
    assert "No:" in cli("rx", "verify", pid, *staff).stdout
    presented = cli("prescriptions", "present", pid, "--to", pharmacy.name, "--yes", *api)
    assert presented.exit_code == 0, presented.output
    consents = ConsentLedger(geth_network.ledger())
    assert consents.is_permitted(patient, pharmacy.address, Category.DISPENSE.bit, int(Purpose.TREATMENT)), "presenting gave the pharmacy its DISPENSE consent"
    assert not consents.is_permitted(patient, pharmacy.address, Category.PRESCRIPTION.bit, int(Purpose.TREATMENT)), "and nothing more"
    assert "Yes:" in cli("rx", "verify", pid, *staff).stdout

    record = tmp_path / "dispense.json"
    record.write_text(json.dumps(medication_dispense()))
    dispensed = cli("rx", "dispense", pid, "--record", str(record), *staff)
    assert dispensed.exit_code == 0 and "1 left" in dispensed.stdout, dispensed.output

    shown = cli("prescriptions", "show", pid, *api).stdout
    assert "1 of 2 dispensed, 1 left" in shown and pharmacy.name in shown
    again = cli("rx", "dispense", pid, "--record", str(record), *staff)
    assert again.exit_code != 0 and "already recorded for an earlier dispense" in again.output.replace("\n", " "), again.output
    assert json.loads(cli("prescriptions", "show", pid, "--json", *api).stdout)["state"]["remaining"] == 1
