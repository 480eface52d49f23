"""The AWS state of the emulator, held by a moto server on 127.0.0.1.

`MotoProcess` runs moto's server in a child process (`moto_server`), so that moto's work never
competes with the gateway for the GIL; the child exits when its stdin closes (that is, with us).
Beside the HTTP API it has a bulk loader the telemetry sink writes request records and metrics
through (no HTTP round trip per batch).
`AwsState` is the one place that talks to it over boto3: it creates what the `DeploymentModel`
describes (function, versions, alias with weights, alarms, SNS topics, request-log table) and keeps
moto in step with what the emulator does (published versions, weight shifts, alarm states).
Any boto3 code pointed at `endpoint` (AWS_ENDPOINT_URL) sees the same resources.
"""

from __future__ import annotations

import io
import os
import secrets
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from deployer.aws.clients import EMULATOR, Endpoint
from deployer.aws.dynamodb import create_request_table
from deployer.compiled import METRIC_NAMESPACE, AlarmModel, DeploymentModel
from deployer.errors import DeployerError
from deployer.local.state.moto_server import LOADER_KEY_ENV

ACCOUNT_ID = "123456789012"  # moto's default account
MOTO_SERVER_SCRIPT = Path(__file__).with_name("moto_server.py")


class MotoProcess:
    """moto's server in a child process on 127.0.0.1 (`deployer.local.state.moto_server`), with its
    bulk loader: `loader` is the (host, port, key) the telemetry sink connects to."""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._proc: subprocess.Popen[str] | None = None
        self._ready = False
        self._key = secrets.token_bytes(16)
        self.endpoint = ""
        self.loader: tuple[str, int, bytes] | None = None

    def launch(self) -> str:
        """Start the child process; returns the endpoint at once (see `wait_ready`)."""
        port = self._port or _free_port()
        env = {**os.environ, LOADER_KEY_ENV: self._key.hex()}
        self._proc = subprocess.Popen(
            [sys.executable, str(MOTO_SERVER_SCRIPT), str(port)], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.endpoint = f"http://127.0.0.1:{port}"
        self._ready = False
        return self.endpoint

    def wait_ready(self) -> None:
        """Block until the server listens (its first line of output: the HTTP port and the loader's)."""
        if self._ready:
            return
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise DeployerError("the moto server was not launched")
        ports = proc.stdout.readline().split()
        if len(ports) != 2 or not all(p.isdigit() for p in ports):
            self.stop()
            raise DeployerError("the moto server did not start", hint=f"is {self.endpoint} free?")
        self.loader = ("127.0.0.1", int(ports[1]), self._key)
        self._ready = True

    def start(self) -> str:
        endpoint = self.launch()
        self.wait_ready()
        return endpoint

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:  # the emulator persists what it needs (state.json, the request log): no need to drain
            if proc.stdin is not None:
                proc.stdin.close()
            proc.terminate()
            proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):
            proc.kill()
            proc.wait(timeout=5)
        finally:
            if proc.stdout is not None:
                proc.stdout.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client(service: str, endpoint: str, region: str) -> Any:
    """A boto3 client of the emulator's moto server (the AWS access layer's factory, its emulator policy)."""
    return Endpoint.emulator(endpoint, region, policy=EMULATOR).client(service)


def zip_directory(root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo(str(path.relative_to(root)), date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


class AwsState:
    """boto3 over the moto endpoint: create and update the model's resources."""

    def __init__(self, endpoint: str, model: DeploymentModel) -> None:
        self.endpoint = endpoint
        self.model = model
        region = model.region
        self.lambda_ = client("lambda", endpoint, region)
        self.cloudwatch = client("cloudwatch", endpoint, region)
        self.sns = client("sns", endpoint, region)
        self.dynamodb = client("dynamodb", endpoint, region)
        self.iam = client("iam", endpoint, region)
        self.topic_arns: dict[str, str] = {}
        #: the bundle hash of the code moto's $LATEST holds (None: unknown, upload)
        self.latest_code: str | None = None

    # -- creation -------------------------------------------------------------------------
    def create_static(self) -> None:
        """Table, topics (with email subscriptions) and alarms: what exists before any deploy."""
        m = self.model
        table = m.request_log.table_name
        existing = self.dynamodb.list_tables().get("TableNames", [])
        if table not in existing:  # the table the stack makes: both indexes and the TTL
            create_request_table(self.dynamodb, table)
        for target in m.notifications:
            arn = self.sns.create_topic(Name=target.topic_name)["TopicArn"]
            self.topic_arns[target.name] = arn
            for address in target.addresses if target.kind == "email" else ():
                self.sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=address)
        for alarm in m.alarms:
            self.put_alarm(alarm, version=None)

    def put_alarm(self, alarm: AlarmModel, version: str | None) -> None:
        m = self.model
        dimensions = [{"Name": "Agent", "Value": m.agent}, {"Name": "Environment", "Value": m.environment}]
        if version is not None and alarm.scope == "version":
            dimensions.append({"Name": "Version", "Value": version})
        actions = [self.topic_arns[n] for n in alarm.notify if n in self.topic_arns]
        common: dict[str, Any] = {
            "AlarmName": alarm.name,
            "AlarmDescription": alarm.description,
            "ComparisonOperator": alarm.comparison,
            "Threshold": alarm.threshold,
            "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm,
            "TreatMissingData": alarm.missing_data,
            "AlarmActions": actions,
            "OKActions": actions,
        }
        if alarm.kind == "error_rate" or alarm.metric == "ErrorRate":
            def stat(metric_id: str, name: str) -> dict[str, Any]:
                return {"Id": metric_id, "ReturnData": False, "MetricStat": {
                    "Metric": {"Namespace": METRIC_NAMESPACE, "MetricName": name, "Dimensions": dimensions},
                    "Period": alarm.period_s, "Stat": "Sum"}}
            self.cloudwatch.put_metric_alarm(**common, Metrics=[
                stat("errors", "Errors"), stat("invocations", "Invocations"),
                {"Id": "error_rate", "Expression": "100 * errors / invocations", "Label": "ErrorRate",
                 "ReturnData": True},
            ])
            return
        statistic: dict[str, Any] = (
            {"ExtendedStatistic": alarm.statistic, "EvaluateLowSampleCountPercentile": alarm.low_sample}
            if alarm.statistic[:1].lower() == "p" else {"Statistic": alarm.statistic}
        )
        self.cloudwatch.put_metric_alarm(**common, **statistic, Namespace=METRIC_NAMESPACE,
                                         MetricName=alarm.metric, Dimensions=dimensions, Period=alarm.period_s)

    def watch_version(self, version: str) -> None:
        """Point the version-scoped alarms at one version, as a deploy does to their Version dimension."""
        for alarm in self.model.alarms:
            if alarm.scope == "version":
                self.put_alarm(alarm, version)

    def set_alarm_state(self, name: str, state: str, reason: str, data: dict[str, Any] | None = None) -> None:
        import json

        kwargs: dict[str, Any] = {"AlarmName": name, "StateValue": state, "StateReason": reason[:1023]}
        if data is not None:
            kwargs["StateReasonData"] = json.dumps(data)[:4000]
        self.cloudwatch.set_alarm_state(**kwargs)

    # -- function, versions, alias --------------------------------------------------------
    def _role(self) -> str:
        name = f"{self.model.function.name}-role"
        try:
            return str(self.iam.get_role(RoleName=name)["Role"]["Arn"])
        except Exception:
            doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
            return str(self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc)["Role"]["Arn"])

    def publish_version(self, bundle_dir: Path, environment: dict[str, str], description: str, *,
                        code_hash: str | None = None) -> str:
        """Upload the bundle and configuration, publish a version; returns the version number.

        With `code_hash`, the code is uploaded only when moto's $LATEST holds other code: a
        configuration-only change is `UpdateFunctionConfiguration` + `PublishVersion`, as in Lambda.
        """
        fn = self.model.function
        config: dict[str, Any] = {
            "Runtime": fn.lambda_runtime, "Handler": "handlers.runtime.handler", "MemorySize": fn.memory_mb,
            "Timeout": fn.timeout_s, "Environment": {"Variables": environment},
            "Architectures": [fn.architecture],
        }
        try:
            self.lambda_.get_function(FunctionName=fn.name)
            exists = True
        except self.lambda_.exceptions.ResourceNotFoundException:
            exists = False
        if exists:
            if code_hash is None or code_hash != self.latest_code:
                self.lambda_.update_function_code(FunctionName=fn.name, ZipFile=zip_directory(bundle_dir))
            config.pop("Architectures")
            self.lambda_.update_function_configuration(FunctionName=fn.name, **config)
        else:
            self.lambda_.create_function(FunctionName=fn.name, Role=self._role(), Code={"ZipFile": zip_directory(bundle_dir)},
                                         Publish=False, **config)
        self.latest_code = code_hash
        return str(self.lambda_.publish_version(FunctionName=fn.name, Description=description[:256])["Version"])

    def set_alias(self, primary: str, additional: dict[str, float]) -> None:
        fn, alias = self.model.function.name, self.model.alias
        routing = {"AdditionalVersionWeights": {v: round(w, 6) for v, w in additional.items() if w > 0}}
        try:
            self.lambda_.update_alias(FunctionName=fn, Name=alias, FunctionVersion=primary, RoutingConfig=routing)
        except self.lambda_.exceptions.ResourceNotFoundException:
            self.lambda_.create_alias(FunctionName=fn, Name=alias, FunctionVersion=primary, RoutingConfig=routing)

    def alias_routing(self) -> tuple[str, dict[str, float]] | None:
        """What moto's alias serves: (version, additional weights); None when there is no alias."""
        try:
            alias = self.lambda_.get_alias(FunctionName=self.model.function.name, Name=self.model.alias)
        except self.lambda_.exceptions.ResourceNotFoundException:
            return None
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return str(alias["FunctionVersion"]), {str(v): float(w) for v, w in weights.items()}

    def publish(self, target: str, subject: str, message: str) -> str | None:
        arn = self.topic_arns.get(target)
        if arn is None:
            return None
        return str(self.sns.publish(TopicArn=arn, Subject=subject[:99], Message=message)["MessageId"])
