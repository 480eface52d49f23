"""CloudWatch: alarm states and their history."""

from __future__ import annotations

from typing import Any

from deployer.aws.errors import aws_call


class Alarms:
    def __init__(self, client: Any) -> None:
        self.client = client

    def describe(self, names: list[str]) -> list[dict[str, Any]]:
        """The metric and composite alarms of `names` that exist."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(names), 100):
            chunk = names[start:start + 100]
            with aws_call("cloudwatch:DescribeAlarms", f"alarms {', '.join(chunk)}"):
                response = self.client.describe_alarms(AlarmNames=chunk, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
            out += response.get("MetricAlarms", []) + response.get("CompositeAlarms", [])
        return out

    def history(self, name: str, *, max_records: int = 50) -> list[dict[str, Any]]:
        """State changes of one alarm, newest first."""
        with aws_call("cloudwatch:DescribeAlarmHistory", f"alarm {name}"):
            response = self.client.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate",
                                                          MaxRecords=max_records, ScanBy="TimestampDescending")
        return list(response.get("AlarmHistoryItems", []))
