"""Chain and IPFS failures as problems: contract refusals 409/422, unreachable chain or IPFS 503, the chain node's
disk full or read-only 507 (storage-full: the gateway's STORAGE_FULL, or the node's own "no space left on device")."""

from __future__ import annotations

from typing import Any

import httpx
import requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from web3.exceptions import ContractLogicError, ProviderConnectionError, Web3RPCError

from api.consent_refusals import in_words
from api.metrics import Metrics
from api.problems import ProblemError, problem_response, unavailable
from i18n import _
from ledger.errors import ContractRevert, TransactionFailed, storage_failure
from ledger.transactions import revert_data
from network.gateway.errors import STORAGE_FULL, UPSTREAM_UNAVAILABLE
from network.ipfs_client import (
    IpfsError,
    IpfsNotFound,
    IpfsPayloadTooLarge,
    IpfsUnavailable,
)

STORAGE_RETRY_AFTER_SECONDS = "30"  # an operator has to free space and restart the node: not a matter of seconds
STORAGE_CHECK_TIMEOUT_SECONDS = 5.0

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
        status, "contract-refused", _("Refused by the ledger"), _("the contract refused the call: {refusal}").format(refusal=revert), error=revert.name,
        arguments={key: _jsonable(value) for key, value in revert.args_by_name.items()},
    )


def storage_problem(detail: str) -> ProblemError:
    """The chain node cannot write (disk full or read-only): nothing new reached the ledger; retry once it can."""
    return ProblemError(507, "storage-full", _("Chain node out of storage"), detail, headers={"Retry-After": STORAGE_RETRY_AFTER_SECONDS})


def rpc_error_problem(exc: Web3RPCError) -> tuple[str, ProblemError]:
    """(metrics kind, problem) for an error the chain (through the gateway) answered with."""
    error = (exc.rpc_response or {}).get("error") if isinstance(exc.rpc_response, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message")) if isinstance(error, dict) and error.get("message") else str(exc.message)
    if code == STORAGE_FULL or storage_failure(message):
        return "storage_full", storage_problem(message)
    if code == UPSTREAM_UNAVAILABLE:
        return "chain_unavailable", unavailable("chain-unavailable", _("Chain unavailable"), _("{reason}; retry later").format(reason=message))
    return "chain_error", ProblemError(502, "chain-error", _("Chain error"), _("the chain answered with an error: {reason}").format(reason=message))


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
        return problem_response(in_words(app.state.services, problem))  # a consent refusal says why, in words

    @app.exception_handler(ContractRevert)
    async def _revert(_request: Request, exc: ContractRevert) -> JSONResponse:
        return failed("contract_refused", revert_problem(exc))

    @app.exception_handler(ContractLogicError)
    async def _logic(_request: Request, exc: ContractLogicError) -> JSONResponse:
        data = revert_data(exc)
        revert = decode(data) if data else ContractRevert("UnknownRevert", {"message": str(exc)})
        return failed("contract_refused", revert_problem(revert))

    @app.exception_handler(TransactionFailed)
    async def _tx(_request: Request, exc: TransactionFailed) -> JSONResponse:
        if storage_failure(str(exc)):
            return failed("storage_full", storage_problem(_("the chain did not take the transaction: {reason}").format(reason=exc)))
        if (cause := await chain_storage_problem(app.state.services.settings.gateway_url)) is not None:
            return failed("storage_full", storage_problem(_("{cause} (the chain did not take the transaction: {reason})").format(cause=cause, reason=exc)))
        return failed("transaction_failed", unavailable("transaction-failed", _("Transaction not completed"), _("the chain did not take the transaction: {reason}; nothing was changed, retry later").format(reason=exc)))

    @app.exception_handler(requests.RequestException)
    async def _chain_down(_request: Request, exc: requests.RequestException) -> JSONResponse:
        return failed("chain_unavailable", unavailable("chain-unavailable", _("Chain unavailable"), _("the permissioning gateway cannot be reached: {reason}").format(reason=type(exc).__name__)))

    @app.exception_handler(ProviderConnectionError)
    async def _provider(_request: Request, exc: ProviderConnectionError) -> JSONResponse:
        return failed("chain_unavailable", unavailable("chain-unavailable", _("Chain unavailable"), _("the permissioning gateway cannot be reached: {reason}").format(reason=exc)))

    @app.exception_handler(Web3RPCError)
    async def _rpc(_request: Request, exc: Web3RPCError) -> JSONResponse:
        return failed(*rpc_error_problem(exc))

    _install_put_incomplete_handler(app, failed)

    @app.exception_handler(IpfsUnavailable)
    async def _ipfs_down(_request: Request, exc: IpfsUnavailable) -> JSONResponse:
        return failed("ipfs_unavailable", unavailable("ipfs-unavailable", _("IPFS unavailable"), _("the IPFS node cannot be reached; retry later")))

    @app.exception_handler(IpfsNotFound)
    async def _ipfs_missing(_request: Request, exc: IpfsNotFound) -> JSONResponse:
        return failed("ipfs_missing", ProblemError(404, "payload-missing", _("Payload not found"), _("the record's payload is not on this institution's IPFS node")))

    @app.exception_handler(IpfsPayloadTooLarge)
    async def _ipfs_large(_request: Request, exc: IpfsPayloadTooLarge) -> JSONResponse:
        return failed("ipfs_refused", ProblemError(413, "payload-too-large", _("Payload too large"), str(exc)))

    @app.exception_handler(IpfsError)
    async def _ipfs(_request: Request, exc: IpfsError) -> JSONResponse:
        return failed("ipfs_error", ProblemError(502, "ipfs-error", _("IPFS error"), str(exc)))


async def chain_storage_problem(gateway_url: str | None) -> str | None:
    """The gateway's STORAGE_FULL sentence when the chain node cannot write now, else None.

    Asked only after a write did not complete: the transaction path may report a node that stopped on a full
    disk as "not mined within 60s" (it waits through a node that is down), which would send a client to retry
    in seconds what needs an operator."""
    if not gateway_url:
        return None
    try:
        async with httpx.AsyncClient(timeout=STORAGE_CHECK_TIMEOUT_SECONDS) as client:
            reply = (await client.post(gateway_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})).json()
    except (httpx.HTTPError, ValueError):
        return None
    error = reply.get("error") if isinstance(reply, dict) else None
    if isinstance(error, dict) and error.get("code") == STORAGE_FULL:
        return str(error.get("message"))
    return None


def _install_put_incomplete_handler(app: FastAPI, failed: Any) -> None:
    """An upload whose anchoring stopped because the chain node's disk is full (or read-only) answers 507
    storage-full, like every other request that meets that disk; any other incomplete upload keeps the record
    service's problem (503)."""
    # lazy: the record service is imported when the app is built, not when this module loads
    from records.errors import PutIncompleteError

    @app.exception_handler(PutIncompleteError)
    async def _put_incomplete(_request: Request, exc: PutIncompleteError) -> JSONResponse:
        from api.record_access import (
            record_problem,  # lazy: api.record_access imports the problems module
        )

        if storage_failure(str(exc)):
            return failed("storage_full", storage_problem(str(exc)))
        if (cause := await chain_storage_problem(app.state.services.settings.gateway_url)) is not None:
            return failed("storage_full", storage_problem(_("{cause} ({reason})").format(cause=cause, reason=exc)))
        problem = record_problem(exc)
        app.state.services.metrics.chain_errors.labels(problem.slug.replace("-", "_")).inc()
        return problem_response(problem)
