"""CloudWatch Logs: the function's log group."""

from __future__ import annotations

from typing import Any

from deployer.aws.errors import aws_call


class LogGroup:
    def __init__(self, client: Any, group: str) -> None:
        self.client = client
        self.group = group

    def filter(self, pattern: str | None, *, start_ms: int, end_ms: int | None = None, limit: int = 100,
               max_pages: int = 20) -> list[dict[str, Any]]:
        """The newest `limit` events matching `pattern` since `start_ms`, oldest first."""
        kwargs: dict[str, Any] = {"logGroupName": self.group, "startTime": start_ms, "limit": min(limit, 10_000)}
        if end_ms is not None:
            kwargs["endTime"] = end_ms
        if pattern:
            kwargs["filterPattern"] = pattern
        events: list[dict[str, Any]] = []
        for _ in range(max_pages):  # events come oldest first: keep reading, keep the newest `limit`
            with aws_call("logs:FilterLogEvents", f"log group {self.group}",
                          "has the function been invoked yet? its log group appears with its first request"):
                response = self.client.filter_log_events(**kwargs)
            events += response.get("events", [])
            del events[:-limit]
            token = response.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
        return events
