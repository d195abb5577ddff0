"""Generate (or check) the files of a Besu QBFT consortium network.

    # the committed example: 4 validators from deterministic TEST-ONLY keys, all on loopback
    python -m network.besu.generate network --test-keys --out network/besu/example-test-only

    # a throwaway local network with fresh random keys (keys go outside the committed tree)
    python -m network.besu.generate network --new-keys --keys-dir .healthsilk/besu/keys \\
        --allow 0xDeployer... --out .healthsilk/besu/net

    # a real consortium: each member sends its node's enode URL (public key @ private IP : port)
    python -m network.besu.generate network --enode enode://...@10.0.0.1:30303 (x4) --allow 0x... --out DIR

    # genesis.json only, from validator addresses
    python -m network.besu.generate genesis --validator 0x... (x4) --out genesis.json

    # check a generated directory (no Besu binary needed)
    python -m network.besu.generate check network/besu/example-test-only

Paths inside each config.toml are relative to --run-dir (default: the repository root), the directory
Besu is started from. Node data and private keys live under .healthsilk/ (git-ignored), never in --out.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from eth_account import Account
from eth_utils import keccak

from network.allowlist import render_accounts_allowlist
from network.besu.check import check_network_dir
from network.besu.keys import NodeKey, parse_enode, random_node_keys, example_node_keys, write_node_keys
from network.besu.render import (
    NodeFiles,
    QbftParameters,
    render_genesis,
    render_json,
    render_node_config,
    render_nodes_allowlist,
    render_static_nodes,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_ROOT = REPO_ROOT / ".healthsilk" / "besu"
TEST_DEPLOYER_LABEL = "healthsilk TEST-ONLY consortium deployer"
TEST_ONLY_NOTE = "TEST-ONLY keys: derived from public labels, so anyone can sign as these validators."
FIRST_RPC_PORT = 8546  # node-1 takes the private port the gateway forwards to, as anvil does locally


def example_deployer_address() -> str:
    """The TEST-ONLY account allowed to send transactions in the example (it deploys the registry)."""
    return Account.from_key(keccak(text=TEST_DEPLOYER_LABEL)).address


def generate_network(
    nodes: Sequence[NodeKey],
    out_dir: Path,
    allowed_accounts: Sequence[str],
    params: QbftParameters,
    *,
    run_dir: Path = REPO_ROOT,
    data_root: Path = DEFAULT_DATA_ROOT,
    keys_dir: Path,
    label: str,
) -> list[Path]:
    """Write genesis, static nodes, both allowlists and one config.toml per node; returns the files written.

    Everything is rendered first, so invalid input raises before any file is touched.
    """
    if len(nodes) < 4:
        raise ValueError(f"QBFT tolerates f faulty validators with 3f+1 of them; {len(nodes)} tolerate none (use at least 4)")
    if len({node.public_key for node in nodes}) != len(nodes):
        raise ValueError("two nodes share a key")
    if len({(node.host, node.p2p_port) for node in nodes}) != len(nodes):
        raise ValueError("two nodes share a P2P host:port")
    one_host = len({node.host for node in nodes}) == 1

    def rel(path: Path) -> str:
        return os.path.relpath(path.resolve(), run_dir.resolve())

    documents: dict[Path, str] = {
        out_dir / "genesis.json": render_json(render_genesis([n.address for n in nodes], params)),
        out_dir / "static-nodes.json": render_static_nodes(nodes),
        out_dir / "nodes-allowlist.toml": render_nodes_allowlist(nodes),
        out_dir / "accounts-allowlist.toml": render_accounts_allowlist(list(allowed_accounts)),
    }
    for index, node in enumerate(nodes, start=1):
        files = NodeFiles(
            data_path=rel(data_root / f"node-{index}" / "data"),
            genesis_file=rel(out_dir / "genesis.json"),
            key_file=rel(keys_dir / f"node-{index}" / "key"),
            static_nodes_file=rel(out_dir / "static-nodes.json"),
            accounts_allowlist_file=rel(out_dir / "accounts-allowlist.toml"),
            nodes_allowlist_file=rel(out_dir / "nodes-allowlist.toml"),
        )
        rpc_port = FIRST_RPC_PORT + index - 1 if one_host else FIRST_RPC_PORT
        documents[out_dir / f"node-{index}" / "config.toml"] = render_node_config(index, len(nodes), node, rpc_port, files, label)

    for path, text in documents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(documents)


def _safe_keys_dir(keys_dir: Path, out_dir: Path) -> Path:
    """Private keys never go where they could be committed: not into --out, not into the tracked tree."""
    resolved = keys_dir.resolve()
    if resolved.is_relative_to(out_dir.resolve()):
        raise ValueError(f"--keys-dir {keys_dir} is inside --out; keep private keys out of the generated (committable) files")
    if resolved.is_relative_to(REPO_ROOT) and not resolved.is_relative_to(REPO_ROOT / ".healthsilk"):
        raise ValueError(f"--keys-dir {keys_dir} is inside the repository; use a path under .healthsilk/ (git-ignored) or outside it")
    return resolved


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m network.besu.generate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    network = commands.add_parser("network", help="write a full network directory")
    source = network.add_mutually_exclusive_group(required=True)
    source.add_argument("--test-keys", action="store_true", help="deterministic TEST-ONLY keys (the committed example)")
    source.add_argument("--new-keys", action="store_true", help="fresh random throwaway keys, written to --keys-dir")
    source.add_argument("--enode", action="append", metavar="URL", help="a member node's enode URL (repeat per validator)")
    network.add_argument("--out", type=Path, required=True)
    network.add_argument("--count", type=int, default=4, help="validators to generate keys for (default 4)")
    network.add_argument("--allow", action="append", default=[], metavar="ADDRESS", help="account allowed to send transactions at genesis (the deployer); the registry-generated allowlist replaces it later")
    network.add_argument("--keys-dir", type=Path, help="where node private keys are (written for --test-keys/--new-keys)")
    network.add_argument("--run-dir", type=Path, default=REPO_ROOT, help="the directory Besu is started from (config paths are relative to it)")
    network.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    _add_chain_options(network)

    genesis = commands.add_parser("genesis", help="write genesis.json only, from validator addresses")
    genesis.add_argument("--validator", action="append", required=True, metavar="ADDRESS")
    genesis.add_argument("--out", type=Path, required=True, help="the genesis.json file to write")
    _add_chain_options(genesis)

    check = commands.add_parser("check", help="check a generated network directory")
    check.add_argument("directory", type=Path)
    check.add_argument("--chain-id", type=int, default=7331)
    check.add_argument("--run-dir", type=Path, default=REPO_ROOT)
    return parser


def _add_chain_options(parser: argparse.ArgumentParser) -> None:
    defaults = QbftParameters()
    parser.add_argument("--chain-id", type=int, default=defaults.chain_id)
    parser.add_argument("--block-period", type=int, default=defaults.block_period_seconds, help="seconds")
    parser.add_argument("--request-timeout", type=int, default=defaults.request_timeout_seconds, help="seconds")
    parser.add_argument("--epoch-length", type=int, default=defaults.epoch_length)
    parser.add_argument("--evm-fork", choices=["cancun", "prague"], default=defaults.evm_fork)


def _params(args: argparse.Namespace) -> QbftParameters:
    return QbftParameters(
        chain_id=args.chain_id,
        block_period_seconds=args.block_period,
        epoch_length=args.epoch_length,
        request_timeout_seconds=args.request_timeout,
        evm_fork=args.evm_fork,
    )


def _run_network(args: argparse.Namespace) -> list[Path]:
    out_dir = args.out.resolve()
    if args.test_keys:
        nodes, label = example_node_keys(args.count), TEST_ONLY_NOTE
        keys_dir = _safe_keys_dir(args.keys_dir or DEFAULT_DATA_ROOT / "test-keys", out_dir)
        allowed = args.allow or [example_deployer_address()]
    elif args.new_keys:
        if args.keys_dir is None:
            raise ValueError("--new-keys needs --keys-dir (outside the committed tree)")
        nodes, label = random_node_keys(args.count), "Throwaway keys generated for this network."
        keys_dir = _safe_keys_dir(args.keys_dir, out_dir)
        allowed = args.allow
    else:
        nodes, label = [parse_enode(url) for url in args.enode], "Validators are the consortium members' nodes."
        keys_dir = (args.keys_dir or DEFAULT_DATA_ROOT / "keys").resolve()
        allowed = args.allow
    if not allowed:
        raise ValueError("--allow at least one account (the deployer): with an empty accounts allowlist Besu refuses every transaction")
    written = generate_network(
        nodes, out_dir, allowed, _params(args), run_dir=args.run_dir, data_root=args.data_root, keys_dir=keys_dir, label=label
    )
    if nodes[0].private_key is not None:
        written += write_node_keys(nodes, keys_dir)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            problems = check_network_dir(args.directory, args.chain_id, args.run_dir)
            for problem in problems:
                print(f"problem: {problem}", file=sys.stderr)
            print(f"{args.directory}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
            return 1 if problems else 0
        if args.command == "genesis":
            args.out.parent.mkdir(parents=True, exist_ok=True)
            text = render_json(render_genesis(args.validator, _params(args)))
            args.out.write_text(text)
            written = [args.out]
        else:
            written = _run_network(args)
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
