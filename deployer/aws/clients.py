"""The AWS clients of the deploy path, built once per region (and endpoint, for moto)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deployer.aws.cloudformation import Stacks
from deployer.aws.lambda_ import Functions
from deployer.aws.s3 import Objects
from deployer.aws.stepfunctions import StateMachines
from deployer.aws.sts import Identity


@dataclass(frozen=True)
class AwsClients:
    region: str
    stacks: Stacks
    objects: Objects
    functions: Functions
    state_machines: StateMachines
    identity: Identity
    dynamodb: Any  # raw boto3 client, handed to deployer.ops for the deploy record

    @classmethod
    def for_region(cls, region: str, *, endpoint_url: str | None = None) -> AwsClients:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(region_name=region)
        config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=70)

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=endpoint_url, config=config)  # type: ignore[call-overload]

        return cls(
            region=region,
            stacks=Stacks(client("cloudformation")),
            objects=Objects(client("s3")),
            functions=Functions(client("lambda")),
            state_machines=StateMachines(client("stepfunctions")),
            identity=Identity(client("sts")),
            dynamodb=client("dynamodb"),
        )
