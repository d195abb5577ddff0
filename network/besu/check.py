"""Check a generated Besu network directory without a Besu binary: parse everything, cross-check it.

Returns a list of problems (empty when consistent): the genesis is QBFT with the expected chain id, its
extraData decodes to exactly the static nodes' addresses, every config.toml parses and binds JSON-RPC to
127.0.0.1 only, peers are static and private, permissioning is on, and the allowlists parse.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from pathlib import Path
from typing import Any

from network.allowlist import parse_accounts_allowlist
from network.besu.extradata import ExtraDataError, decode_qbft_extra_data
from network.besu.keys import parse_enode

QBFT_KEYS = ("blockperiodseconds", "epochlength", "requesttimeoutseconds")
FORBIDDEN_APIS = frozenset({"ADMIN", "DEBUG", "MINER", "TXPOOL", "TRACE", "PLUGINS", "ENGINE", "CLIQUE", "IBFT"})
PATH_OPTIONS = {
    "genesis-file": "genesis.json",
    "static-nodes-file": "static-nodes.json",
    "permissions-accounts-config-file": "accounts-allowlist.toml",
    "permissions-nodes-config-file": "nodes-allowlist.toml",
}


def check_network_dir(directory: Path, chain_id: int | None = 7331, run_dir: Path | None = None) -> list[str]:
    """Problems found in `directory` (genesis.json, static-nodes.json, allowlists, node-*/config.toml)."""
    problems: list[str] = []
    genesis = _load_json(directory / "genesis.json", problems)
    static_nodes = _load_json(directory / "static-nodes.json", problems)
    validators = _check_genesis(genesis, chain_id, problems) if isinstance(genesis, dict) else None
    enodes = _check_static_nodes(static_nodes, validators, problems)
    _check_allowlists(directory, enodes, problems)
    configs = sorted(directory.glob("node-*/config.toml"))
    if validators is not None and len(configs) != len(validators):
        problems.append(f"{len(configs)} node config(s) for {len(validators)} validators")
    zero_base_fee = isinstance(genesis, dict) and genesis.get("config", {}).get("zeroBaseFee") is True
    for config in configs:
        _check_node_config(config, directory, run_dir, zero_base_fee, problems)
    return problems


def _load_json(path: Path, problems: list[str]) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name}: cannot read as JSON: {exc}")
        return None


def _check_genesis(genesis: dict[str, Any], chain_id: int | None, problems: list[str]) -> list[str] | None:
    config = genesis.get("config", {})
    if chain_id is not None and config.get("chainId") != chain_id:
        problems.append(f"genesis chainId is {config.get('chainId')!r}, expected {chain_id}")
    qbft = config.get("qbft")
    if not isinstance(qbft, dict):
        problems.append("genesis has no config.qbft block")
    else:
        for key in QBFT_KEYS:
            if not isinstance(qbft.get(key), int) or qbft[key] < 1:
                problems.append(f"genesis config.qbft.{key} must be a positive integer")
    for other in ("ibft2", "clique", "ethash"):
        if other in config:
            problems.append(f"genesis also configures {other}; a QBFT network must not")
    if config.get("zeroBaseFee") is True and genesis.get("baseFeePerGas") not in ("0x0", "0x00"):
        problems.append("zeroBaseFee is set but baseFeePerGas is not 0x0")
    if genesis.get("mixHash") != "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365":
        problems.append("genesis mixHash is not the BFT magic value")
    try:
        extra = decode_qbft_extra_data(genesis.get("extraData", ""))
    except ExtraDataError as exc:
        problems.append(f"genesis extraData: {exc}")
        return None
    if extra.has_vote or extra.round != 0 or extra.seal_count != 0 or any(extra.vanity):
        problems.append("genesis extraData must have zero vanity, no vote, round 0 and no seals")
    if len(extra.validators) < 4:
        problems.append(f"{len(extra.validators)} validators tolerate no faulty node; QBFT needs 3f+1 (at least 4)")
    if len(set(extra.validators)) != len(extra.validators):
        problems.append("genesis extraData lists a validator twice")
    return list(extra.validators)


def _check_static_nodes(static_nodes: Any, validators: list[str] | None, problems: list[str]) -> list[str]:
    if not isinstance(static_nodes, list) or not all(isinstance(e, str) for e in static_nodes):
        problems.append("static-nodes.json must be a JSON array of enode URLs")
        return []
    addresses = []
    for enode in static_nodes:
        try:
            node = parse_enode(enode)
        except ValueError as exc:
            problems.append(f"static-nodes.json: {exc}")
            continue
        if not _private_host(node.host):
            problems.append(f"static node {node.host} is a public address; the consortium peers on private links")
        addresses.append(node.address)
    if validators is not None and sorted(addresses) != sorted(validators):
        problems.append("static-nodes.json keys do not match the genesis validators")
    return list(static_nodes)


def _check_allowlists(directory: Path, enodes: list[str], problems: list[str]) -> None:
    try:
        parse_accounts_allowlist((directory / "accounts-allowlist.toml").read_text())
    except (OSError, ValueError) as exc:
        problems.append(f"accounts-allowlist.toml: {exc}")
    try:
        nodes = tomllib.loads((directory / "nodes-allowlist.toml").read_text()).get("nodes-allowlist")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"nodes-allowlist.toml: {exc}")
        return
    if sorted(nodes or []) != sorted(enodes):
        problems.append("nodes-allowlist.toml does not list exactly the static nodes")


def _check_node_config(path: Path, directory: Path, run_dir: Path | None, zero_base_fee: bool, problems: list[str]) -> None:
    where = f"{path.parent.name}/config.toml"
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"{where}: not valid TOML: {exc}")
        return
    if config.get("rpc-http-host") != "127.0.0.1":
        problems.append(f"{where}: rpc-http-host must be 127.0.0.1, is {config.get('rpc-http-host')!r}")
    for option in ("rpc-ws-enabled", "graphql-http-enabled", "discovery-enabled"):
        if config.get(option) is not False:
            problems.append(f"{where}: {option} must be false")
    if config.get("bootnodes"):
        problems.append(f"{where}: bootnodes must not be set (static nodes only)")
    if "*" in config.get("host-allowlist", ["*"]):
        problems.append(f"{where}: host-allowlist must name hosts, not '*'")
    apis = {str(api).upper() for api in config.get("rpc-http-api", [])}
    if not {"ETH", "NET", "WEB3", "QBFT"} <= apis or apis & FORBIDDEN_APIS:
        problems.append(f"{where}: rpc-http-api must include ETH, NET, WEB3, QBFT and none of {sorted(FORBIDDEN_APIS)}")
    for option in ("p2p-host", "p2p-interface"):
        if not _private_host(str(config.get(option, "0.0.0.0"))):
            problems.append(f"{where}: {option} must be a loopback or private address")
    for option in ("permissions-accounts-config-file-enabled", "permissions-nodes-config-file-enabled"):
        if config.get(option) is not True:
            problems.append(f"{where}: {option} must be true")
    if not isinstance(config.get("rpc-max-logs-range"), int) or config["rpc-max-logs-range"] < 1:
        problems.append(f"{where}: rpc-max-logs-range must be set to a positive limit")
    if zero_base_fee and config.get("min-gas-price") != 0:
        problems.append(f"{where}: min-gas-price must be 0 on a zeroBaseFee network")
    if run_dir is not None:
        for option, name in PATH_OPTIONS.items():
            value = config.get(option)
            if not isinstance(value, str) or (run_dir / value).resolve() != (directory / name).resolve():
                problems.append(f"{where}: {option} does not point at {name} of this network")


def _private_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (address.is_loopback or address.is_private) and not address.is_unspecified
