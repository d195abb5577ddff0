"""A patient's delegate lists and presents the patient's prescription from its own wallet with `--for PATIENT`
(issue 17 section 5): it signs the PresentPrescription and the pharmacy's DISPENSE consent with its own key, told in
plain words that it acts as delegate; a stranger is refused before anything is signed."""

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
from tests.care.prescriptions.rx_api import (
    Institution,
    medication_request,
    start_institution,
)
from tests.conftest import RunningNetwork
from wallet.cli import app

runner = CliRunner()


def cli(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def institutions(geth_network: RunningNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Institution, Institution]]:
    root = tmp_path_factory.mktemp("rx-delegate")
    started = [
        start_institution(geth_network, root, "Delegate Rx Hospital", "CN", ["PROVIDER"]),
        start_institution(geth_network, root, "Delegate Rx Pharmacy", "BJ", ["PROVIDER", "PHARMACY"]),
    ]
    try:
        yield started[0], started[1]
    finally:
        for institution in started:
            institution.stop()


def test_delegate_lists_and_presents_the_patients_prescription_with_for(
    geth_network: RunningNetwork, institutions: tuple[Institution, Institution], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    hospital, pharmacy = institutions
    for name, value in (("HEALTHSILK_WALLET_PASSWORD", "rx delegate password"), ("HEALTHSILK_WALLET_SCRYPT_N", "1024"), ("COLUMNS", "240")):
        monkeypatch.setenv(name, value)
    for name in ("HEALTHSILK_WALLET", "HEALTHSILK_API_URL", "HEALTHSILK_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    api = ("--api", hospital.url)
    wallets = [tmp_path / f"{who}.json" for who in ("patient", "guardian", "stranger")]
    for path in wallets:
        assert cli("wallet", "create", "--wallet", str(path)).exit_code == 0
    patient, guardian = KeyFile.read(wallets[0]).address, KeyFile.read(wallets[1]).address
    as_patient = ("--wallet", str(wallets[0]), *api)
    as_guardian = ("--wallet", str(wallets[1]), "--for", patient, *api)
    assert cli("consent", "grant", "--to", hospital.name, "--categories", "PRESCRIPTION", "--yes", *as_patient).exit_code == 0
    assert cli("delegate", "add", guardian, "--yes", *as_patient).exit_code == 0
    request = tmp_path / "request.json"
    request.write_text(json.dumps(medication_request()))
    issued = cli("rx", "issue", "--patient", patient, "--request", str(request), "--json", "--token", hospital.token, *api)
    assert issued.exit_code == 0, issued.output
    pid = json.loads(issued.stdout)["state"]["prescription_id"]

    stranger = cli("prescriptions", "present", pid, "--to", pharmacy.name, "--yes", "--wallet", str(wallets[2]), "--for", patient, *api)
    assert stranger.exit_code == 1 and "not the delegate of patient" in stranger.output
    assert "No:" in cli("rx", "verify", pid, "--api", pharmacy.url, "--token", pharmacy.token).stdout

    (listed,) = json.loads(cli("prescriptions", "list", "--json", *as_guardian).stdout)
    assert listed["state"]["prescription_id"] == pid and listed["state"]["patient"] == patient
    assert "Prescriptions of patient" in cli("prescriptions", "list", *as_guardian).stdout
    assert json.loads(cli("prescriptions", "list", "--json", "--wallet", str(wallets[1]), *api).stdout) == [], "without --for: its own"

    presented = cli("prescriptions", "present", pid, "--to", pharmacy.name, "--yes", "--json", *as_guardian)
    assert presented.exit_code == 0, presented.output
    assert f"As delegate of patient {patient}, you ({guardian})" in presented.output
    assert json.loads(presented.stdout)["signer"] == guardian
    consents = ConsentLedger(geth_network.ledger())
    assert consents.is_permitted(patient, pharmacy.address, Category.DISPENSE.bit, int(Purpose.TREATMENT)), "the DISPENSE consent, signed by the delegate"
    assert "Yes:" in cli("rx", "verify", pid, "--api", pharmacy.url, "--token", pharmacy.token).stdout
