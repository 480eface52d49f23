"""CloudWatch alarms from the compiled SLOs and alerts.

A `version` alarm watches the version being deployed (the Version dimension): it gates the
rollout. A `service` alarm watches every version together (Agent and Environment only): it pages
people about what users get, whichever version serves them, before and after any rollback.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from deployer.compiled import AlarmModel
from infra.metrics import alarm_metric

COMPARISON = {
    "GreaterThanThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    "GreaterThanOrEqualToThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    "LessThanThreshold": cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    "LessThanOrEqualToThreshold": cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
}
MISSING_DATA = {
    "breaching": cloudwatch.TreatMissingData.BREACHING,
    "notBreaching": cloudwatch.TreatMissingData.NOT_BREACHING,
    "ignore": cloudwatch.TreatMissingData.IGNORE,
    "missing": cloudwatch.TreatMissingData.MISSING,
}


class VersionAlarms(Construct):
    """One alarm per `AlarmModel`, on the metrics of `dimensions` (Agent, Environment, Version) for a
    version-scoped alarm and of the same without Version for a service-scoped one.

    `names` maps each alarm to its CloudWatch name; `topics` maps notification targets to the
    topics an alarm notifies on ALARM and on OK (so paging services resolve incidents).
    """

    def __init__(self, scope: Construct, id: str, *, alarms: tuple[AlarmModel, ...],
                 dimensions: dict[str, str], names: Mapping[str, str],
                 topics: Mapping[str, sns.ITopic]) -> None:
        super().__init__(scope, id)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for spec in alarms:
            scoped = dimensions if spec.scope == "version" else {k: v for k, v in dimensions.items() if k != "Version"}
            alarm = cloudwatch.Alarm(
                self, spec.name,
                alarm_name=names[spec.name],
                alarm_description=spec.description,
                metric=alarm_metric(spec, scoped),
                threshold=spec.threshold,
                comparison_operator=COMPARISON[spec.comparison],
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.datapoints_to_alarm,
                treat_missing_data=MISSING_DATA[spec.missing_data],
                evaluate_low_sample_count_percentile=spec.low_sample if spec.statistic[:1].lower() == "p" else None,
            )
            for target in spec.notify:
                action = actions.SnsAction(topics[target])
                alarm.add_alarm_action(action)
                alarm.add_ok_action(action)
            self.alarms[spec.name] = alarm

    def gating(self, names: tuple[str, ...]) -> list[cloudwatch.Alarm]:
        return [self.alarms[name] for name in names]
