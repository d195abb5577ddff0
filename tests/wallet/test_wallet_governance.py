"""`healthsilk governance`: governors admit, suspend, reactivate and change roles by vote from the CLI, signed with
their key files after a plain-words summary, against the real registry on geth (issue 17, section 5)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from crypto import HpkePrivateKey, Identity, KeyFile
from ledger.registry import ConsortiumRegistry
from tests.conftest import RunningNetwork
from tests.wallet.conftest import PASSWORD
from wallet.cli import app

runner = CliRunner()


def cli(*args: str, input: str | None = None) -> object:
    result = runner.invoke(app, list(args), input=input)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def governor_keys(geth_network: RunningNetwork, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.setenv("HEALTHSILK_MEMBER_PASSWORD", PASSWORD)
    monkeypatch.setenv("COLUMNS", "240")
    paths = []
    for index, governor in enumerate(geth_network.governors[:2]):
        identity = Identity(account=governor, hpke_key=HpkePrivateKey.generate())
        paths.append(KeyFile.from_identity(identity, PASSWORD, scrypt_n=1024).save(tmp_path / f"governor-{index}.json"))
    return paths


def _proposal_id(output: str) -> str:
    found = re.search(r"Proposal (\d+) created", output)
    assert found, output
    return found[1]


def test_governors_admit_suspend_reactivate_and_change_roles(geth_network: RunningNetwork, governor_keys: list[Path], tmp_path: Path) -> None:
    first, second = (("--key", str(path)) for path in governor_keys)
    net = ("--data-dir", str(geth_network.settings.data_dir))
    registry = ConsortiumRegistry(geth_network.ledger())
    newcomer = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    name = f"Shymkent Test Clinic {newcomer.address[2:8]}"
    application = ("--address", newcomer.address, "--name", name, "--country", "KZ", "--roles", "PROVIDER", "--hpke-key", newcomer.hpke_public_key.to_hex())

    count = registry.contract.functions.proposalCount().call()
    declined = cli("governance", "propose", *application, *first, *net, input="n\n")
    assert declined.exit_code == 1 and "Nothing was signed" in declined.output, declined.output
    assert f"admit {name} (KZ) at {newcomer.address} as care provider" in declined.output.replace("\n", " "), declined.output
    assert registry.contract.functions.proposalCount().call() == count  # nothing was sent

    proposed = cli("governance", "propose", *application, *first, *net, "--yes")
    assert proposed.exit_code == 0, proposed.output
    admission = _proposal_id(proposed.output)
    listed = cli("governance", "list", *net)
    assert listed.exit_code == 0 and name in listed.output and "1/2" in listed.output, listed.output
    (row, *_) = json.loads(cli("governance", "list", "--json", *net).stdout)
    assert row["proposal_id"] == int(admission) and row["payload"]["name"] == name and row["executed"] is False

    approved = cli("governance", "approve", admission, *second, *net, "--yes")
    assert approved.exit_code == 0 and f"Proposal {admission} is executed" in approved.output, approved.output
    assert registry.is_active(newcomer.address)
    again = cli("governance", "approve", admission, *second, *net, "--yes")
    assert again.exit_code == 1 and "nothing to approve" in again.output

    # Only governors vote: a member's (or anyone's) key file is refused before anything is signed.
    stranger = KeyFile.from_identity(newcomer, PASSWORD, scrypt_n=1024).save(tmp_path / "newcomer.json")
    refused = cli("governance", "suspend", name, "--reason", "test", "--key", str(stranger), *net, "--yes")
    assert refused.exit_code == 1 and "is not an active governor" in refused.output, refused.output

    suspension = _proposal_id(cli("governance", "suspend", name, "--reason", "licence lapsed", *first, *net, "--yes").output)
    shown = cli("governance", "approve", suspension, *second, *net, input="y\n")
    assert shown.exit_code == 0 and "licence lapsed" in shown.output and "can no longer write, read or relay" in shown.output.replace("\n", " "), shown.output
    assert registry.member(newcomer.address).status == "SUSPENDED"  # type: ignore[union-attr]

    reinstatement = _proposal_id(cli("governance", "reactivate", newcomer.address, *first, *net, "--yes").output)
    assert cli("governance", "approve", reinstatement, *second, *net, "--yes").exit_code == 0
    assert registry.is_active(newcomer.address)

    change = _proposal_id(cli("governance", "roles", name, "--set", "PROVIDER,PHARMACY", *first, *net, "--yes").output)
    assert cli("governance", "approve", change, *second, *net, "--yes").exit_code == 0
    assert registry.member(newcomer.address).roles == ["PROVIDER", "PHARMACY"]  # type: ignore[union-attr]
    roles = cli("governance", "roles", name, *net)
    assert roles.exit_code == 0 and "care provider, pharmacy" in roles.output, roles.output

    unknown = cli("governance", "suspend", "No Such Clinic", "--reason", "x", *first, *net, "--yes")
    assert unknown.exit_code == 1 and "No consortium member is called No Such Clinic" in unknown.output
