"""`python -m network.gateway` — serve the permissioning gateway on loopback."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from network.gateway.app import create_app
from network.operator import load_or_create_operator
from network.settings import LOOPBACK


def main() -> None:
    parser = argparse.ArgumentParser(description="healthsilk RPC permissioning gateway")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the node's private JSON-RPC URL")
    parser.add_argument("--chain-engine", choices=["geth", "anvil"], required=True, help="how members are topped up: transfers (geth) or anvil_setBalance")
    parser.add_argument("--operator-file", type=Path, required=True, help="operator.json; on geth its funding account pays members' top-ups")
    parser.add_argument("--deployments", type=Path, required=True)
    parser.add_argument("--max-request-bytes", type=int, default=2 * 1024 * 1024)
    args = parser.parse_args()
    if args.chain_engine == "geth" and not args.operator_file.exists():
        parser.error(f"--operator-file {args.operator_file} does not exist (`healthsilk network up` creates it)")
    funding_account = load_or_create_operator(args.operator_file).funding_account if args.chain_engine == "geth" else None
    app = create_app(args.upstream, args.deployments, args.max_request_bytes, funding_account)
    uvicorn.run(app, host=LOOPBACK, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
