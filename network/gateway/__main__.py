"""`python -m network.gateway` — serve the permissioning gateway on loopback."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from network.gateway.app import create_app
from network.settings import LOOPBACK


def main() -> None:
    parser = argparse.ArgumentParser(description="healthsilk RPC permissioning gateway")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the node's private JSON-RPC URL")
    parser.add_argument("--deployments", type=Path, required=True)
    parser.add_argument("--durable-state", type=Path, required=True)
    parser.add_argument("--max-request-bytes", type=int, default=2 * 1024 * 1024)
    args = parser.parse_args()
    app = create_app(args.upstream, args.deployments, args.durable_state, args.max_request_bytes)
    uvicorn.run(app, host=LOOPBACK, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
