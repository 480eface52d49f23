"""The record of a failure the gateway made: a throttle, a timeout, a crashed worker, a malformed request.

In such a failure the handler wrote no request record (it was never called, or it was killed), so
nothing would reach the request log or the alarms. The gateway writes one in the runtime's own
format instead: the request-record log line and the EMF line of `handlers.telemetry` (the same
renderer the runtime uses), with outcome `error`, the status, the error type, the version and
the request id. They go through the same path as the handler's lines (`FunctionLogs`: the alarms'
datapoints, the sink, the request log), so `deployer errors` lists them and the version's `Errors`
(5xx) or `ClientErrors` (4xx) datapoint counts them, as the runtime's lines count a request.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from deployer.compiled import DeploymentModel
from handlers.records import RECORD_LINE_START
from handlers.telemetry import RequestReport, Telemetry

#: The error type of each status the gateway answers itself (Lambda's exception names where they exist).
ERROR_TYPES = {
    400: "MalformedHttpRequest",
    404: "ResourceNotFoundException",
    408: "RequestTimeout",
    413: "RequestTooLargeException",
    429: "TooManyRequestsException",
    431: "RequestHeaderFieldsTooLarge",
    501: "NotImplemented",
    502: "ServiceException",
    505: "HttpVersionNotSupported",
}


def has_record(lines: list[str]) -> bool:
    """Whether the handler's lines hold its request record.

    Only a line that is a record counts (a JSON object of event "request", as the runtime writes it
    first on its line): a line the agent printed that merely mentions one (its input, a debug dump)
    does not stand in for the missing record. The record's id may be the client's `x-request-id`,
    so the id is not compared.
    """
    for line in lines:
        if line.startswith(RECORD_LINE_START):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == "request":
                return True
    return False


@dataclass
class FailureRecords:
    """Renders the two lines of a gateway-made failure for one agent environment."""

    telemetry: Telemetry

    @classmethod
    def for_model(cls, model: DeploymentModel) -> FailureRecords:
        metrics = model.runtime_config().get("metrics") or {}
        return cls(Telemetry(agent=model.agent, environment=model.environment,
                             namespace=str(metrics.get("namespace", "Deployer")),
                             replay_namespace=str(metrics.get("replay_namespace", "Deployer/Replay"))))

    def lines(self, *, request_id: str, action: str, version: str, status: int, error_type: str, message: str,
              latency_ms: float = 0.0, memory_mb: float = 0.0, replay: bool = False) -> list[str]:
        """The request-record line and the EMF line of one failed request."""
        report = RequestReport(request_id=request_id, ts_ms=time.time_ns() // 1_000_000, action=action,
                               version=version, status=status, latency_ms=round(latency_ms, 3), memory_mb=memory_mb,
                               error_type=error_type, error_message=message[:1000], replay=replay)
        return [self.telemetry.log_line(report), self.telemetry.emf_line(report)]
