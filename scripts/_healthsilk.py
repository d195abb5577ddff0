"""What the brownie scripts share: the network's data dir, its deployed contracts and a member's account.

Not a script itself (brownie runs the others). It runs in brownie's own venv, so it imports nothing from the
application (which pins another web3): it reads the same files the application writes, as plain JSON:
- `<data dir>/network.json`: the chain id and ports `healthsilk network up` started the network with;
- `<data dir>/deployments/<chainId>.json`: where the migrations deployed each contract;
- a healthsilk key file (`healthsilk wallet create`, or an institution's `--member-key`): its `address` and
  `hpke_public_key` are public, and its `ethereum_keystore` is a standard V3 keystore that eth-account opens.
The data dir is $HEALTHSILK_DATA_DIR, else `.healthsilk` in the project (what `healthsilk network up` uses).
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from brownie import Contract, accounts, chain, web3
from brownie.project import get_loaded_projects
from eth_account import Account

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MEMBER_KEY_ENV = "HEALTHSILK_MEMBER_KEY"
PASSWORD_ENV = "HEALTHSILK_MEMBER_PASSWORD"  # the same variable `healthsilk api serve` reads
STATUS_WORDS = {0: "not a member", 1: "active", 2: "suspended"}
ROLE_NAMES = ("GOVERNOR", "PROVIDER", "PAYER", "PHARMACY", "AUDITOR", "EMERGENCY")  # bit i = 1 << i (ledger/roles.py)


class ScriptError(SystemExit):
    """A clear one-line refusal: brownie prints it and exits 1 instead of showing a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(f"healthsilk: {message}")


def data_dir() -> Path:
    return Path(os.environ.get("HEALTHSILK_DATA_DIR") or PROJECT_ROOT / ".healthsilk").expanduser().resolve()


def saved_network() -> dict[str, Any]:
    """network.json of the data dir, after checking that brownie is connected to that network's gateway."""
    root = data_dir()
    try:
        saved = json.loads((root / "network.json").read_text())
    except (OSError, ValueError):
        raise ScriptError(f"no network in {root}: start one with `healthsilk network up`, or point $HEALTHSILK_DATA_DIR at its data dir") from None
    gateway_port = int(saved.get("gateway_port", 8545))
    connected = urlparse(web3.provider.endpoint_uri)
    if connected.hostname not in ("127.0.0.1", "localhost") or connected.port != gateway_port:
        raise ScriptError(
            f"brownie is connected to {web3.provider.endpoint_uri}, but the network in {root} is reached through its gateway at "
            f"http://127.0.0.1:{gateway_port}: register that URL (`brownie networks modify healthsilk-local host=http://127.0.0.1:{gateway_port}`) "
            "or set $HEALTHSILK_DATA_DIR to the data dir of the network you are connected to"
        )
    if int(saved.get("chain_id", 7331)) != chain.id:
        raise ScriptError(f"the connected chain has id {chain.id}, but {root} holds chain {saved.get('chain_id')}")
    return saved


def deployments_file(saved: dict[str, Any]) -> Path:
    return data_dir() / "deployments" / f"{int(saved.get('chain_id', 7331))}.json"


def deployed_addresses(saved: dict[str, Any]) -> dict[str, str]:
    """Contract name -> address, as the migrations recorded them."""
    path = deployments_file(saved)
    try:
        contracts = json.loads(path.read_text())["contracts"]
    except (OSError, ValueError, KeyError):
        raise ScriptError(f"nothing is deployed yet ({path} is missing): run `brownie run deploy --network <this network>`") from None
    return {name: entry["address"] for name, entry in contracts.items()}


def contract(name: str, address: str) -> Any:
    """The deployed contract as a brownie Contract, with the ABI of brownie's own build of contracts/.

    Not `Container.at(address)`: on a live network brownie 1.22 then records the address under build/deployments
    (and crashes in doing so), and after `healthsilk network reset` every later `brownie run` or `console` would
    fail at connect on the recorded address that no longer has code. Nothing is recorded here.
    """
    (project,) = get_loaded_projects()
    return Contract.from_abi(name, address, project[name].abi, persist=False)


def registry(saved: dict[str, Any]) -> Any:
    return contract("ConsortiumRegistry", deployed_addresses(saved)["ConsortiumRegistry"])


def role_words(flags: int) -> str:
    return ",".join(name for bit, name in enumerate(ROLE_NAMES) if flags & (1 << bit)) or "none"


def read_key_file(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).expanduser().read_text())
    except (OSError, ValueError) as exc:
        raise ScriptError(f"cannot read the key file {path}: {exc}") from None
    if document.get("format") != "healthsilk-keyfile" or "ethereum_keystore" not in document:
        raise ScriptError(f"{path} is not a healthsilk key file (made by `healthsilk wallet create`)")
    return document


def account_from_key_file(path: Path, password: str | None = None) -> Any:
    """Open the key file's Ethereum keystore (password: argument, $HEALTHSILK_MEMBER_PASSWORD, or a prompt)."""
    document = read_key_file(path)
    password = password or os.environ.get(PASSWORD_ENV) or getpass.getpass(f"password of {path}: ")
    try:
        private_key = Account.decrypt(document["ethereum_keystore"], password)
    except ValueError:
        raise ScriptError(f"wrong password for {path}") from None
    return accounts.add("0x" + bytes(private_key).hex())


def member_account(saved: dict[str, Any]) -> Any:
    """The member who signs: the key file in $HEALTHSILK_MEMBER_KEY, else the network operator if it is a member
    (a network started without a genesis is governed by its operator alone)."""
    if key_file := os.environ.get(MEMBER_KEY_ENV):
        return account_from_key_file(Path(key_file))
    operator_file = data_dir() / "operator.json"
    try:
        mnemonic = json.loads(operator_file.read_text())["mnemonic"]
    except (OSError, ValueError, KeyError):
        raise ScriptError(f"set ${MEMBER_KEY_ENV} to the key file of a consortium member (its password in ${PASSWORD_ENV})") from None
    operator = accounts.from_mnemonic(mnemonic)
    if not registry(saved).isActiveMember(operator.address):
        accounts.remove(operator)
        raise ScriptError(
            f"this network's operator is not a consortium member (its genesis names other governors): "
            f"set ${MEMBER_KEY_ENV} to a member's key file (the demo's are in {data_dir() / 'demo' / 'keys'})"
        )
    return operator
