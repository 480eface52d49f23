"""The one client factory of the AWS access layer, and the typed clients of one endpoint.

An `Endpoint` is AWS itself or the local emulator's moto server; `Endpoint.client(service)` is
the only place a boto3 client is built. Two rules live here and nowhere else:

- credentials: the emulator's loopback moto gets fake local credentials (real ones are never sent
  to it); AWS gets boto3's own credential chain (profile, SSO, environment, instance role);
- `AWS_ENDPOINT_URL`: an AWS endpoint without an explicit URL takes it from the environment (a
  moto server in tests, a proxy), with the same credential chain, for every caller alike.

A `CallPolicy` says how patient the calls are (retries, timeouts, connection pool): the ops
commands, the deploy path and the emulator each have theirs. `AwsClients` holds the typed client
of each service for one endpoint, built on first use (an `errors` command builds one client).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

from deployer.errors import DeployerError

if TYPE_CHECKING:
    from deployer.aws.cloudformation import Stacks
    from deployer.aws.cloudwatch import Alarms
    from deployer.aws.codedeploy import Deployments
    from deployer.aws.dynamodb import RequestTable
    from deployer.aws.lambda_ import Functions
    from deployer.aws.logs import LogGroup
    from deployer.aws.s3 import Objects
    from deployer.aws.stepfunctions import StateMachines
    from deployer.aws.sts import Identity

#: moto accepts any credentials; never send real ones to a local endpoint.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class CallPolicy:
    """How patient the calls of a client are."""

    max_attempts: int
    connect_timeout_s: float
    read_timeout_s: float
    pool_connections: int = 10
    retry_mode: Literal["standard", "legacy", "adaptive"] = "standard"


#: The ops commands: a bounded answer beats a hung command.
OPERATIONS = CallPolicy(max_attempts=3, connect_timeout_s=5, read_timeout_s=60)
#: The deploy path: CloudFormation and S3 uploads get more time and more retries.
DEPLOY = CallPolicy(max_attempts=5, connect_timeout_s=10, read_timeout_s=70)
#: The emulator's own calls to its moto server (many threads, few retries: moto is on this host).
EMULATOR = CallPolicy(max_attempts=2, connect_timeout_s=60, read_timeout_s=60, pool_connections=20,
                      retry_mode="legacy")

_lock = threading.Lock()
_session: Any = None


@dataclass(frozen=True)
class Endpoint:
    """Where the AWS resources live: AWS (`local=False`) or the emulator's moto server (`local=True`)."""

    region: str
    url: str | None = None
    local: bool = False
    policy: CallPolicy = field(default=OPERATIONS, compare=False)

    @classmethod
    def aws(cls, region: str, *, url: str | None = None, policy: CallPolicy = OPERATIONS) -> Endpoint:
        """AWS itself, or `url` / `AWS_ENDPOINT_URL` standing in for it (same credential chain)."""
        return cls(region=region, url=url or os.environ.get(ENDPOINT_ENV) or None, policy=policy)

    @classmethod
    def emulator(cls, url: str, region: str, *, policy: CallPolicy = OPERATIONS) -> Endpoint:
        """The local emulator's moto server (loopback only: it gets fake credentials)."""
        if urlparse(url).hostname not in _LOOPBACK:
            raise DeployerError(f"the emulator's moto endpoint {url} is not on this machine",
                                hint="restart `deployer local up`: the emulator listens on 127.0.0.1")
        return cls(region=region, url=url, local=True, policy=policy)

    def with_policy(self, policy: CallPolicy) -> Endpoint:
        return replace(self, policy=policy)

    def client(self, service: str) -> Any:
        """A boto3 client of `service` at this endpoint (the only place one is built)."""
        from botocore.config import Config

        p = self.policy
        kwargs: dict[str, Any] = {
            "region_name": self.region,
            "config": Config(retries={"max_attempts": p.max_attempts, "mode": p.retry_mode},
                             connect_timeout=p.connect_timeout_s, read_timeout=p.read_timeout_s,
                             max_pool_connections=p.pool_connections)}
        if self.url:
            kwargs["endpoint_url"] = self.url
        if self.local:
            kwargs.update(LOCAL_CREDENTIALS)
        with _lock:  # building clients from one session is not thread-safe; using them is
            return _boto3_session().client(service, **kwargs)


def _boto3_session() -> Any:
    global _session
    if _session is None:
        import boto3  # heavy: imported where used

        _session = boto3.session.Session()
    return _session


class AwsClients:
    """The typed client of each service at one endpoint, each built on first use."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    @classmethod
    def for_region(cls, region: str, *, endpoint_url: str | None = None, policy: CallPolicy = DEPLOY) -> AwsClients:
        """AWS in `region` (`endpoint_url`, else `AWS_ENDPOINT_URL`, stands in for it)."""
        return cls(Endpoint.aws(region, url=endpoint_url, policy=policy))

    @property
    def region(self) -> str:
        return self.endpoint.region

    @cached_property
    def stacks(self) -> Stacks:
        from deployer.aws.cloudformation import Stacks

        return Stacks(self.endpoint.client("cloudformation"))

    @cached_property
    def objects(self) -> Objects:
        from deployer.aws.s3 import Objects

        return Objects(self.endpoint.client("s3"))

    @cached_property
    def functions(self) -> Functions:
        from deployer.aws.lambda_ import Functions

        return Functions(self.endpoint.client("lambda"))

    @cached_property
    def state_machines(self) -> StateMachines:
        from deployer.aws.stepfunctions import StateMachines

        return StateMachines(self.endpoint.client("stepfunctions"))

    @cached_property
    def deployments(self) -> Deployments:
        from deployer.aws.codedeploy import Deployments

        return Deployments(self.endpoint.client("codedeploy"))

    @cached_property
    def identity(self) -> Identity:
        from deployer.aws.sts import Identity

        return Identity(self.endpoint.client("sts"))

    @cached_property
    def alarms(self) -> Alarms:
        from deployer.aws.cloudwatch import Alarms

        return Alarms(self.endpoint.client("cloudwatch"))

    @cached_property
    def _dynamodb(self) -> Any:
        return self.endpoint.client("dynamodb")

    @cached_property
    def _logs(self) -> Any:
        return self.endpoint.client("logs")

    def request_table(self, name: str) -> RequestTable:
        from deployer.aws.dynamodb import RequestTable

        return RequestTable(self._dynamodb, name)

    def log_group(self, name: str) -> LogGroup:
        from deployer.aws.logs import LogGroup

        return LogGroup(self._logs, name)
