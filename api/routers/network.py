"""The network this institution is on: chain id, itself, and the contracts (so wallets check EIP-712 domains)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth.callers import Caller, any_caller
from api.problems import problem_responses
from api.routers.deps import services
from api.services import Services
from ledger.care_flows import care_flow_contracts

router = APIRouter(prefix="/v1", tags=["network"])
CONTRACTS = ("ConsortiumRegistry", "ConsentLedger", "RecordRegistry", "HealthCardPayments")


class Institution(BaseModel):
    address: str
    name: str | None
    country: str | None


class NetworkOut(BaseModel):
    chain_id: int
    chain_time: int = Field(description="now, as the contracts will judge it (unix seconds): signers compute validity periods and deadlines from this, not from their own clock")
    institution: Institution
    contracts: dict[str, str]


class MemberOut(BaseModel):
    address: str
    name: str
    country: str
    roles: list[str]
    status: str
    endpoint: str
    hpke_public_key: str


@router.get("/network", response_model=NetworkOut, summary="Chain id, this institution and the contract addresses (any caller)", responses=problem_responses(401, 502, 503))
def network(_: Caller = Depends(any_caller()), svc: Services = Depends(services)) -> NetworkOut:
    ledger = svc.ledger
    member = svc.member(svc.address)
    return NetworkOut(
        chain_id=ledger.deployments.chain_id,
        chain_time=svc.chain_time(),
        institution=Institution(address=svc.address, name=member.name if member else None, country=member.country if member else None),
        contracts={
            **{name: ledger.deployments.address_of(name) for name in CONTRACTS},
            # the care flows' contracts, where deployed: their EIP-712 domains too are checked against these
            **{name: ledger.deployments.address_of(name) for name in care_flow_contracts() if name in ledger.deployments.contracts},
        },
    )


@router.get("/members", response_model=list[MemberOut], summary="The consortium's member directory (any caller)", responses=problem_responses(401, 502, 503))
def members(_: Caller = Depends(any_caller()), svc: Services = Depends(services)) -> list[MemberOut]:
    return [MemberOut.model_validate(member.model_dump()) for member in svc.registry.directory()]
