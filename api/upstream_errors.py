"""Chain and IPFS failures as problems: contract refusals 409/422, unreachable chain or IPFS 503."""

from __future__ import annotations

from typing import Any

import requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from web3.exceptions import ContractLogicError, ProviderConnectionError, Web3RPCError

from api.metrics import Metrics
from api.problems import ProblemError, problem_response, unavailable
from ledger.errors import ContractRevert, TransactionFailed
from ledger.transactions import revert_data
from network.ipfs_client import IpfsError, IpfsNotFound, IpfsPayloadTooLarge, IpfsUnavailable

# Refusals about the request's own values (fixing the request fixes them); every other refusal is a 409:
# the ledger's current state (nonce used, consent missing, record erased, member suspended) said no.
INVALID_INPUT_REVERTS = frozenset(
    {
        "InvalidAddress", "InvalidCategories", "InvalidCategory", "InvalidCid", "InvalidDataPeriod", "InvalidDelegate", "InvalidGrantee",
        "InvalidPublicKey", "InvalidPurpose", "InvalidPurposes", "InvalidRecord", "InvalidValidityPeriod", "InvalidBatchSize",
        "ECDSAInvalidSignature", "ECDSAInvalidSignatureLength", "ECDSAInvalidSignatureS",
    }
)


def revert_problem(revert: ContractRevert) -> ProblemError:
    status = 422 if revert.name in INVALID_INPUT_REVERTS else 409
    return ProblemError(
        status, "contract-refused", "Refused by the ledger", f"the contract refused the call: {revert}", error=revert.name,
        arguments={key: _jsonable(value) for key, value in revert.args_by_name.items()},
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return str(value)


def install_upstream_handlers(app: FastAPI, metrics: Metrics, decode: Any) -> None:
    """`decode(bytes) -> ContractRevert` turns raw revert data from plain reads into named refusals."""

    def failed(kind: str, problem: ProblemError) -> JSONResponse:
        metrics.chain_errors.labels(kind).inc()
        return problem_response(problem)

    @app.exception_handler(ContractRevert)
    async def _revert(_: Request, exc: ContractRevert) -> JSONResponse:
        return failed("contract_refused", revert_problem(exc))

    @app.exception_handler(ContractLogicError)
    async def _logic(_: Request, exc: ContractLogicError) -> JSONResponse:
        data = revert_data(exc)
        revert = decode(data) if data else ContractRevert("UnknownRevert", {"message": str(exc)})
        return failed("contract_refused", revert_problem(revert))

    @app.exception_handler(TransactionFailed)
    async def _tx(_: Request, exc: TransactionFailed) -> JSONResponse:
        return failed("transaction_failed", unavailable("transaction-failed", "Transaction not completed", f"the chain did not take the transaction: {exc}; nothing was changed, retry later"))

    @app.exception_handler(requests.RequestException)
    async def _chain_down(_: Request, exc: requests.RequestException) -> JSONResponse:
        return failed("chain_unavailable", unavailable("chain-unavailable", "Chain unavailable", f"the permissioning gateway cannot be reached: {type(exc).__name__}"))

    @app.exception_handler(ProviderConnectionError)
    async def _provider(_: Request, exc: ProviderConnectionError) -> JSONResponse:
        return failed("chain_unavailable", unavailable("chain-unavailable", "Chain unavailable", f"the permissioning gateway cannot be reached: {exc}"))

    @app.exception_handler(Web3RPCError)
    async def _rpc(_: Request, exc: Web3RPCError) -> JSONResponse:
        return failed("chain_error", ProblemError(502, "chain-error", "Chain error", f"the chain answered with an error: {exc.message if hasattr(exc, 'message') else exc}"))

    @app.exception_handler(IpfsUnavailable)
    async def _ipfs_down(_: Request, exc: IpfsUnavailable) -> JSONResponse:
        return failed("ipfs_unavailable", unavailable("ipfs-unavailable", "IPFS unavailable", "the IPFS node cannot be reached; retry later"))

    @app.exception_handler(IpfsNotFound)
    async def _ipfs_missing(_: Request, exc: IpfsNotFound) -> JSONResponse:
        return failed("ipfs_missing", ProblemError(404, "payload-missing", "Payload not found", "the record's payload is not on this institution's IPFS node"))

    @app.exception_handler(IpfsPayloadTooLarge)
    async def _ipfs_large(_: Request, exc: IpfsPayloadTooLarge) -> JSONResponse:
        return failed("ipfs_refused", ProblemError(413, "payload-too-large", "Payload too large", str(exc)))

    @app.exception_handler(IpfsError)
    async def _ipfs(_: Request, exc: IpfsError) -> JSONResponse:
        return failed("ipfs_error", ProblemError(502, "ipfs-error", "IPFS error", str(exc)))
