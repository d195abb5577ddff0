"""The Besu QBFT scale-out configs: checked by parsing and cross-checking them (no Besu binary exists here)."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
import rlp
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from network.allowlist import normalize_addresses, parse_accounts_allowlist, render_accounts_allowlist, write_accounts_allowlist
from network.besu.check import check_network_dir
from network.besu.extradata import ExtraDataError, decode_qbft_extra_data, encode_qbft_extra_data
from network.besu.generate import REPO_ROOT, generate_network, main, example_deployer_address
from network.besu.keys import parse_enode, random_node_keys, example_node_keys
from network.besu.render import QbftParameters, render_genesis

EXAMPLE = REPO_ROOT / "network" / "besu" / "example-test-only"
CHAIN_ID = 7331

# Besu's QBFT documentation example (configure/consensus/qbft.md, block header validator selection).
BESU_DOC_EXTRA_DATA = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f85494"
    "64a702e6263b7297a96638cac6ae65e6541f416994"
    "3923390ad55e90c237593b3b0e401f3b08a0318594"
    "aefdb9a738c9f433e5b6b212a6d62f6370c2f69294"
    "c7eeb9a4e00ce683cf93039b212648e01c6c6b78c080c0"
)


def _addresses(count: int) -> list[str]:
    return [Account.from_key(keccak(text=f"allowlist test {i}")).address for i in range(count)]


# --- extraData -------------------------------------------------------------------------------------


def test_extra_data_codec_matches_the_besu_documentation_vector() -> None:
    decoded = decode_qbft_extra_data(BESU_DOC_EXTRA_DATA)
    assert (decoded.has_vote, decoded.round, decoded.seal_count, decoded.vanity) == (False, 0, 0, b"\x00" * 32)
    assert len(decoded.validators) == 4
    # Re-encoding the same validators in the documented order gives the documented bytes exactly.
    payload = [b"\x00" * 32, [bytes.fromhex(v[2:]) for v in decoded.validators], [], b"", []]
    assert "0x" + rlp.encode(payload).hex() == BESU_DOC_EXTRA_DATA
    # Our encoder sorts; the sorted encoding decodes to the same set.
    assert set(decode_qbft_extra_data(encode_qbft_extra_data(list(decoded.validators))).validators) == set(decoded.validators)


def test_extra_data_rejects_ibft2_layout_and_garbage() -> None:
    ibft2 = "0xf83ea00000000000000000000000000000000000000000000000000000000000000000d5949811ebc35d7b06b3fa8dc5809a1f9c52751e1deb808400000000c0"
    with pytest.raises(ExtraDataError, match="vote"):
        decode_qbft_extra_data(ibft2)
    for bad in ("", "0x", "0xzz", "f87a", "0xc0"):
        with pytest.raises(ExtraDataError):
            decode_qbft_extra_data(bad)
    with pytest.raises(ValueError):
        encode_qbft_extra_data([])
    with pytest.raises(ValueError):
        encode_qbft_extra_data(["0x1234"])


# --- the committed example --------------------------------------------------------------------------


def test_example_genesis_is_qbft_with_the_local_chain_id() -> None:
    genesis = json.loads((EXAMPLE / "genesis.json").read_text())
    config = genesis["config"]
    assert config["chainId"] == CHAIN_ID
    assert config["qbft"] == {"blockperiodseconds": 2, "epochlength": 30000, "requesttimeoutseconds": 4}
    assert config["berlinBlock"] == config["londonBlock"] == config["shanghaiTime"] == config["cancunTime"] == 0
    assert config["zeroBaseFee"] is True and genesis["baseFeePerGas"] == "0x0"
    assert not {"ibft2", "clique", "ethash"} & set(config)


def test_example_extra_data_decodes_to_exactly_the_validators() -> None:
    genesis = json.loads((EXAMPLE / "genesis.json").read_text())
    extra = decode_qbft_extra_data(genesis["extraData"])
    expected = sorted((node.address for node in example_node_keys(4)), key=lambda a: bytes.fromhex(a[2:]))
    assert list(extra.validators) == expected
    static = json.loads((EXAMPLE / "static-nodes.json").read_text())
    assert sorted(parse_enode(url).address for url in static) == sorted(expected)


def test_example_node_configs_bind_rpc_to_loopback_only() -> None:
    configs = sorted(EXAMPLE.glob("node-*/config.toml"))
    assert len(configs) == 4
    rpc_ports, p2p_ports = set(), set()
    for path in configs:
        config = tomllib.loads(path.read_text())
        assert config["rpc-http-host"] == "127.0.0.1"
        assert config["p2p-interface"] == config["p2p-host"] == "127.0.0.1"
        assert config["discovery-enabled"] is False and "bootnodes" not in config
        assert config["rpc-ws-enabled"] is False and config["graphql-http-enabled"] is False
        assert "*" not in config["host-allowlist"]
        assert {"ETH", "NET", "WEB3", "QBFT"} <= set(config["rpc-http-api"])
        assert not {"ADMIN", "DEBUG", "MINER", "TXPOOL", "TRACE"} & set(config["rpc-http-api"])
        assert config["permissions-accounts-config-file-enabled"] is True
        assert config["min-gas-price"] == 0 and config["rpc-max-logs-range"] == 5000
        rpc_ports.add(config["rpc-http-port"])
        p2p_ports.add(config["p2p-port"])
    assert rpc_ports == {8546, 8547, 8548, 8549} and len(p2p_ports) == 4


def test_example_passes_the_checker_and_is_what_the_generator_writes(tmp_path: Path) -> None:
    assert check_network_dir(EXAMPLE, CHAIN_ID, REPO_ROOT) == []
    # Regenerate into a mirror of the repository layout: every file must be byte-identical.
    out = tmp_path / "network" / "besu" / "example-test-only"
    generate_network(
        example_node_keys(4),
        out,
        [example_deployer_address()],
        QbftParameters(),
        run_dir=tmp_path,
        data_root=tmp_path / ".healthsilk" / "besu",
        keys_dir=tmp_path / ".healthsilk" / "besu" / "test-keys",
        label="TEST-ONLY keys: derived from public labels, so anyone can sign as these validators.",
    )
    committed = {p.relative_to(EXAMPLE): p.read_bytes() for p in EXAMPLE.rglob("*") if p.is_file()}
    fresh = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert fresh == committed
    assert not any(p.name == "key" for p in EXAMPLE.rglob("*")), "no private key may sit in the committed example"


def test_checker_catches_a_public_rpc_bind_and_a_wrong_validator_set(tmp_path: Path) -> None:
    out = tmp_path / "net"
    generate_network(random_node_keys(4), out, _addresses(1), QbftParameters(), run_dir=tmp_path, keys_dir=tmp_path / "keys", label="test")
    assert check_network_dir(out, CHAIN_ID, tmp_path) == []
    config = out / "node-2" / "config.toml"
    config.write_text(config.read_text().replace('rpc-http-host="127.0.0.1"', 'rpc-http-host="0.0.0.0"'))
    genesis = json.loads((out / "genesis.json").read_text())
    genesis["extraData"] = encode_qbft_extra_data([n.address for n in random_node_keys(4)])
    (out / "genesis.json").write_text(json.dumps(genesis))
    problems = check_network_dir(out, CHAIN_ID, tmp_path)
    assert any("rpc-http-host" in p for p in problems)
    assert any("do not match the genesis validators" in p for p in problems)


# --- generator CLI ---------------------------------------------------------------------------------


def test_generator_cli_new_keys_writes_private_keys_only_to_the_keys_dir(tmp_path: Path) -> None:
    keys_dir, out = tmp_path / "keys", tmp_path / "net"
    code = main(["network", "--new-keys", "--keys-dir", str(keys_dir), "--allow", _addresses(1)[0], "--out", str(out), "--run-dir", str(tmp_path)])
    assert code == 0
    assert check_network_dir(out, CHAIN_ID, tmp_path) == []
    key_files = sorted(keys_dir.glob("node-*/key"))
    assert len(key_files) == 4 and all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in key_files)
    validators = decode_qbft_extra_data(json.loads((out / "genesis.json").read_text())["extraData"]).validators
    from_keys = {Account.from_key(k.read_text().strip()).address for k in key_files}
    assert set(validators) == from_keys
    assert not any(p.name == "key" for p in out.rglob("*"))


def test_generator_refuses_bad_input_without_writing(tmp_path: Path) -> None:
    out = tmp_path / "net"
    assert main(["network", "--new-keys", "--keys-dir", str(out / "keys"), "--allow", _addresses(1)[0], "--out", str(out)]) == 2
    assert main(["network", "--new-keys", "--keys-dir", str(REPO_ROOT / "network" / "keys"), "--allow", _addresses(1)[0], "--out", str(out)]) == 2
    assert main(["network", "--new-keys", "--keys-dir", str(tmp_path / "k"), "--out", str(out)]) == 2  # no --allow
    enodes = [node.enode for node in random_node_keys(3)]
    assert main(["network", *[a for e in enodes for a in ("--enode", e)], "--allow", _addresses(1)[0], "--out", str(out)]) == 2
    assert main(["network", "--enode", "enode://abc@127.0.0.1:30303", "--allow", _addresses(1)[0], "--out", str(out)]) == 2
    assert not out.exists()


def test_generator_accepts_member_enodes_on_private_addresses(tmp_path: Path) -> None:
    nodes = random_node_keys(4)
    args = ["network", "--allow", _addresses(1)[0], "--out", str(tmp_path / "net"), "--run-dir", str(tmp_path)]
    for i, node in enumerate(nodes):
        args += ["--enode", f"enode://{node.public_key.hex()}@10.20.0.{i + 1}:30303"]
    assert main(args) == 0
    assert check_network_dir(tmp_path / "net", CHAIN_ID, tmp_path) == []
    config = tomllib.loads((tmp_path / "net" / "node-3" / "config.toml").read_text())
    assert config["p2p-interface"] == "10.20.0.3" and config["rpc-http-host"] == "127.0.0.1" and config["rpc-http-port"] == 8546


def test_genesis_only_from_validator_addresses(tmp_path: Path) -> None:
    validators = _addresses(4)
    assert main(["genesis", *[a for v in validators for a in ("--validator", v)], "--out", str(tmp_path / "genesis.json")]) == 0
    extra = decode_qbft_extra_data(json.loads((tmp_path / "genesis.json").read_text())["extraData"])
    assert sorted(extra.validators) == sorted(validators)
    assert render_genesis(validators, QbftParameters(evm_fork="prague"))["config"]["pragueTime"] == 0
    with pytest.raises(ValueError, match="twice the block period"):
        render_genesis(validators, QbftParameters(block_period_seconds=5, request_timeout_seconds=4))


# --- accounts allowlist ----------------------------------------------------------------------------


def test_allowlist_round_trips_checksummed_sorted_deduplicated() -> None:
    addresses = _addresses(5)
    messy = [addresses[3].lower(), addresses[0], addresses[3], "0x" + addresses[1][2:].upper(), addresses[4], addresses[2], addresses[0].lower()]
    text = render_accounts_allowlist(messy)
    entries = tomllib.loads(text)["accounts-allowlist"]
    expected = sorted(set(addresses[:5]), key=lambda a: bytes.fromhex(a[2:]))
    assert entries == expected
    assert all(entry == to_checksum_address(entry) for entry in entries)
    assert parse_accounts_allowlist(text) == expected
    assert render_accounts_allowlist(list(reversed(messy))) == text  # order of input does not matter


@pytest.mark.parametrize(
    "bad",
    [
        "0x1234",
        "not an address",
        "52908400098527886E0F7030069857D2E4169EE7",  # no 0x
        "0x52908400098527886e0F7030069857D2E4169EE7",  # broken EIP-55 checksum
        12345,
        None,
    ],
)
def test_allowlist_rejects_bad_addresses(bad: object) -> None:
    with pytest.raises(ValueError):
        render_accounts_allowlist([_addresses(1)[0], bad])  # type: ignore[list-item]


def test_allowlist_rejects_empty_and_a_bare_string() -> None:
    with pytest.raises(ValueError, match="empty"):
        render_accounts_allowlist([])
    with pytest.raises(ValueError):
        normalize_addresses(_addresses(1)[0])  # type: ignore[arg-type]


def test_write_allowlist_is_atomic_and_leaves_the_old_file_on_bad_input(tmp_path: Path) -> None:
    target = tmp_path / "perm" / "accounts-allowlist.toml"
    first = _addresses(2)
    assert write_accounts_allowlist(target, first) == sorted(first, key=lambda a: bytes.fromhex(a[2:]))
    before = target.read_bytes()
    with pytest.raises(ValueError):
        write_accounts_allowlist(target, [*first, "0xnope"])
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["accounts-allowlist.toml"]  # no temp file left behind
    write_accounts_allowlist(target, _addresses(3))
    assert parse_accounts_allowlist(target.read_text()) == normalize_addresses(_addresses(3))


# --- IPFS Cluster sketch ---------------------------------------------------------------------------


def test_ipfs_cluster_sketch_is_private_crdt_with_replication() -> None:
    service = json.loads((REPO_ROOT / "network" / "ipfs-cluster" / "service.json").read_text())
    cluster = service["cluster"]
    assert 1 < cluster["replication_factor_min"] <= cluster["replication_factor_max"]
    assert cluster["mdns_interval"] == "0s" and cluster["pin_only_on_trusted_peers"] is True
    assert cluster["secret"].startswith("<")  # a placeholder: the real secret is never committed
    crdt = service["consensus"]["crdt"]
    assert crdt["trusted_peers"] and "*" not in crdt["trusted_peers"]
    listeners = [*cluster["listen_multiaddress"], *cluster["peer_addresses"]]
    listeners += [service["api"]["restapi"]["http_listen_multiaddress"], service["api"]["ipfsproxy"]["listen_multiaddress"]]
    listeners += [service["ipfs_connector"]["ipfshttp"]["node_multiaddress"], service["observations"]["metrics"]["prometheus_endpoint"]]
    assert all(address.startswith("/ip4/127.0.0.1/") for address in listeners)
