"""The Step Functions rollout: the compiled `RolloutModel` over the `live` alias.

Started after the stack update with `{"stable": "<served version>", "candidate": "<new version>"}`
(JSONata, AWS SDK integrations only). It runs the loop of the emulator's engine
(`deployer.local.behaviour.rollout`), reading the same numbers, and the parity tests execute both:

1. `Shift<n>` sets the alias weights (`lambda:UpdateAlias`): `percent` on the candidate through
   `AdditionalVersionWeights`, the rest on the stable version; the 100 % step makes the candidate
   the alias's version.
2. Every `check_interval_s` (`Wait<n>`), `Check<n>` reads the gating alarms
   (`cloudwatch:DescribeAlarms`, states filtered in the expression: moto ignores `StateValue`
   with `AlarmNames`, and the filter is right on AWS too) and `Traffic<n>` the candidate's
   `Invocations` since the shift (`cloudwatch:GetMetricStatistics`), from which it computes the
   evidence: requests served (0 without datapoints) and when every gating alarm has evaluated a
   full window holding candidate data (the formula of `deployer.local.behaviour.rollout.evidence`).
3. `Gate<n>`: an alarm in ALARM rolls back; past the rollout's time limit it rolls back; a step
   moves on once its bake is over and the evidence is in, and rolls back without it at its hold
   limit; the 100 % step holds `watch_s` and succeeds.

Every task retries throttles and 5xx with backoff (`States.ALL`: error names differ between
AWS and emulators, and a permanent error costs only the retries before the rollback); anything
that still fails goes to the rollback path, which itself retries, then notifies. The machine's
own `TimeoutSeconds` lies beyond its time limit plus the rollback, and an EventBridge rule tells
the rollout's topics if an execution still times out or is stopped by hand.

Rolling back means one thing: the alias serves the stable version alone.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from deployer.compiled import METRIC_NAMESPACE, QualityGateModel, RolloutModel, RolloutStep
from infra.metrics import INVOCATIONS

#: Retries of every task: 2, 4, 8, 16, 32 s (with jitter), at most a minute apart.
RETRY_ATTEMPTS = 5
#: The rollback retries longer: it is the last thing standing between users and a bad version.
ROLLBACK_ATTEMPTS = 8
#: Time the machine allows itself beyond the rollout's limit (rollback with its retries, notices).
TIMEOUT_MARGIN_S = 3600
#: "Not yet": a time (ms) no evidence reaches.
NEVER_MS = 10**15


def link(states: Sequence[Any]) -> None:
    """Chain states in order (each but the last is an INextable state)."""
    for before, after in itertools.pairwise(states):
        before.next(after)


def evidence_expression(rollout: RolloutModel, step: RolloutStep) -> str:
    """JSONata: the time (ms) by which every gating alarm has evaluated a full window of candidate
    data, from GetMetricStatistics' Datapoints (or `NEVER_MS`); see `deployer.local.behaviour.rollout.evidence`."""
    windows = json.dumps([{"p": w.period_s * 1000, "w": w.window_s * 1000} for w in rollout.evidence])
    g, delay = step.metric_period_s * 1000, rollout.evaluation_delay_s * 1000
    return (
        "{% ("
        f"$times := [$states.result.Datapoints[Sum > 0].$toMillis($replace($string(Timestamp), ' ', 'T'))];"
        f"$ready := [$map({windows}, function($w) {{ ("
        "$s := $ceil($stepStart / $w.p) * $w.p;"
        "$t := $min([$filter($times, function($x) { $x >= $s })]);"
        f"$exists($t) ? $max([$s + $w.w, $floor(($t + {g} - 1) / $w.p) * $w.p + $w.p]) + {delay} : {NEVER_MS}"
        ") })];"
        "$count($ready) = 0 ? 0 : $max($ready)"
        ") %}"
    )


def quality_expression(gate: QualityGateModel) -> str:
    """JSONata: why the candidate answers worse than stable ('' when it does not, or too few answers);
    the arithmetic of `deployer.evaluation.online.quality_drop` on GetMetricData's results."""
    k, n = len(gate.labels), gate.min_samples
    total = "function($id) { $sum([$states.result.MetricDataResults[Id = $id].Values]) }"
    parts = [f"$v := {total};"]
    label_test = "''"
    if gate.field and k > 1:
        parts.append(f"$s := [$map([0..{k - 1}], function($i) {{ $v('s' & $i) }})];"
                     f"$c := [$map([0..{k - 1}], function($i) {{ $v('c' & $i) }})];"
                     "$ns := $sum($s); $nc := $sum($c); $g := $ns + $nc;")
        parts.append(f"$chi := ($ns >= {n} and $nc >= {n}) ? $sum([$map([0..{k - 1}], function($i) {{ ("
                     "$r := $s[$i] + $c[$i]; $r = 0 ? 0 : ($es := $r * $ns / $g; $ec := $r * $nc / $g; "
                     "($s[$i] - $es) * ($s[$i] - $es) / $es + ($c[$i] - $ec) * ($c[$i] - $ec) / $ec)) })]) : 0;")
        parts.append(f"$tv := ($ns >= {n} and $nc >= {n}) ? 0.5 * $sum([$map([0..{k - 1}], function($i) {{ "
                     "$abs($s[$i] / $ns - $c[$i] / $nc) })]) : 0;")
        label_test = (f"($chi > {gate.chi_square_critical} and $tv > {gate.max_shift}) ? ('the distribution of "
                      f"{gate.field} on version ' & $candidate & ' differs from that of version ' & $stable & "
                      f"' (total variation ' & $formatNumber($tv, '0.000') & ' > {gate.max_shift:g}; chi-square ' & "
                      f"$formatNumber($chi, '0.0') & ' > {gate.chi_square_critical:.1f})') : ''")
    confidence_test = "''"
    if gate.low_confidence:
        parts.append("$sl := $v('slow'); $sn := $v('sn'); $cl := $v('clow'); $cn := $v('cn');")
        parts.append(f"$ok := $sn >= {n} and $cn >= {n};"
                     "$p := $ok ? ($sl + $cl) / ($sn + $cn) : 0;"
                     "$se := $ok ? $sqrt($p * (1 - $p) * (1 / $sn + 1 / $cn)) : 0;"
                     "$z := ($ok and $se > 0) ? ($cl / $cn - $sl / $sn) / $se : 0;"
                     "$rise := $ok ? $cl / $cn - $sl / $sn : 0;")
        confidence_test = (f"($z > {gate.z_critical} and $rise > {gate.max_shift}) ? ($formatNumber(100 * $cl / $cn, "
                           "'0.0') & ' % of the answers of version ' & $candidate & ' are below the confidence "
                           "threshold, against ' & $formatNumber(100 * $sl / $sn, '0.0') & ' % for version ' & "
                           "$stable) : ''")
    parts.append(f"$l := {label_test}; $l != '' ? $l : {confidence_test}")
    return "{% (" + "".join(parts) + ") %}"


class StepFunctionsRollout(Construct):
    """A state machine that walks `rollout.steps` over the alias and rolls back on alarm or without evidence."""

    def __init__(self, scope: Construct, id: str, *, rollout: RolloutModel, name: str, agent: str,
                 environment: str, function: lambda_.IFunction, alias_name: str,
                 gating_alarm_names: Sequence[str], alarms: Sequence[cloudwatch.IAlarm],
                 notify: Sequence[sns.ITopic], log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        if alarms:
            self.node.add_dependency(*alarms)  # the alarms exist before the first execution reads them
        self._rollout = rollout
        self._function, self._alias = function, alias_name
        self._alias_resources = [function.function_arn, f"{function.function_arn}:{alias_name}"]
        # Alarm names are fixed (deployer.naming.alarm_name): the ARNs are built, not read.
        self._alarm_names = list(gating_alarm_names)
        self._alarm_arns = [cdk.Stack.of(self).format_arn(
            service="cloudwatch", resource="alarm", resource_name=alarm, arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
            for alarm in self._alarm_names]
        self._dimensions = [{"Name": "Agent", "Value": agent}, {"Name": "Environment", "Value": environment},
                            {"Name": "Version", "Value": "{% $candidate %}"}]
        self._notify, self._name = list(notify), name

        self._rollback = self._rollback_path()
        start = sfn.Pass.jsonata(self, "Start", assign={
            "stable": "{% $states.input.stable %}", "candidate": "{% $states.input.candidate %}",
            "deadline": f"{{% $millis() + {rollout.max_duration_s * 1000} %}}",
            "reason": "", "alarming": [], "served": 0, "readyAt": 0, "stepStart": 0, "qualityReason": ""})
        previous: Any = start
        self.step_states: list[str] = []
        for index, step in enumerate(rollout.steps):
            final = index == len(rollout.steps) - 1
            candidate = "{% {} %}" if final else f"{{% {{$candidate: {round(step.percent / 100, 6)}}} %}}"
            shift = self._update_alias(f"Shift{index}", "{% $candidate %}" if final else "{% $stable %}", candidate,
                                       assign={"stepStart": "{% $millis() %}"})
            self._catch(shift, f"shifting traffic to step {index + 1}")
            link([previous, shift])
            previous = self._hold(index, step, shift, final)
            self.step_states.append(f"Shift{index}")
        previous.next(self._notify_then("NotifyDone", "completed", sfn.Succeed.jsonata(self, "Done")))

        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY)
        self.state_machine = sfn.StateMachine(
            self, "StateMachine",
            state_machine_name=f"{name}-rollout",
            query_language=sfn.QueryLanguage.JSONATA,
            definition_body=sfn.DefinitionBody.from_chainable(start),
            timeout=cdk.Duration.seconds(rollout.max_duration_s + TIMEOUT_MARGIN_S),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment=f"Rollout of {name}: " + " -> ".join(f"{s.percent:g}%" for s in rollout.steps),
        )
        cdk.Validations.of(self.state_machine).acknowledge(cdk.Acknowledgment(
            id="AwsSolutions-IAM5[Resource::*]",
            reason="cloudwatch:GetMetricStatistics, CloudWatch Logs delivery and X-Ray trace writes support no "
                   "resource-level permissions; alias updates and alarm reads are scoped to this stack's ARNs.",
        ))
        self._abnormal_end_rule(name)

    # -- the loop of one step ---------------------------------------------------------------
    def _hold(self, index: int, step: RolloutStep, shift: tasks.CallAwsService, final: bool) -> sfn.Pass:
        """Wait / check / gate loop of one step; returns the state reached when the step is done."""
        rollout = self._rollout
        wait = sfn.Wait.jsonata(self, f"Wait{index}",
                                time=sfn.WaitTime.duration(cdk.Duration.seconds(rollout.check_interval_s)))
        gate = sfn.Choice.jsonata(self, f"Gate{index}")
        done = sfn.Pass.jsonata(self, f"Passed{index}")
        chain: list[Any] = [shift, wait]
        if self._alarm_names:
            check = tasks.CallAwsService.jsonata(
                self, f"Check{index}",
                service="cloudwatch", action="describeAlarms", iam_action="cloudwatch:DescribeAlarms",
                iam_resources=self._alarm_arns,
                parameters={"AlarmNames": self._alarm_names, "MaxRecords": 100},
                assign={"alarming": "{% [$states.result.MetricAlarms[StateValue = 'ALARM'].AlarmName] %}"},
            )
            self._catch(check, f"reading the alarms in step {index + 1}")
            chain.append(check)
        if not final:
            traffic = tasks.CallAwsService.jsonata(
                self, f"Traffic{index}",
                service="cloudwatch", action="getMetricStatistics", iam_action="cloudwatch:GetMetricStatistics",
                iam_resources=["*"],
                parameters={
                    "Namespace": METRIC_NAMESPACE, "MetricName": INVOCATIONS, "Dimensions": self._dimensions,
                    "StartTime": f"{{% $fromMillis($ceil($stepStart / {step.metric_period_s * 1000}) * "
                                 f"{step.metric_period_s * 1000}) %}}",
                    "EndTime": "{% $now() %}", "Period": step.metric_period_s, "Statistics": ["Sum"]},
                assign={"served": "{% $round($sum([$states.result.Datapoints.Sum])) %}",
                        "readyAt": evidence_expression(rollout, step)},
            )
            self._catch(traffic, f"reading the traffic in step {index + 1}")
            chain.append(traffic)
            if rollout.quality is not None:
                chain.append(self._quality_check(index, step))
        link([*chain, gate])
        elapsed = "($millis() - $stepStart)"
        gate.when(sfn.Condition.jsonata("{% $count($alarming) > 0 %}"), self._reason(
            f"AlarmFired{index}", f"'step {index + 1} ({step.percent:g} %): gating alarm(s) in ALARM: ' & "
                                  "$join($alarming, ', ')"))
        gate.when(sfn.Condition.jsonata("{% $millis() > $deadline %}"), self._reason(
            f"TooLate{index}", f"'the rollout ran past its limit of {rollout.max_duration_s} s'"))
        if rollout.quality is not None and not final:
            gate.when(sfn.Condition.jsonata("{% $qualityReason != '' %}"), self._reason(
                f"QualityDrop{index}", f"'step {index + 1} ({step.percent:g} %): quality: ' & $qualityReason"))
        if final:
            gate.when(sfn.Condition.jsonata(f"{{% {elapsed} >= {rollout.watch_s * 1000} %}}"), done)
        else:
            gate.when(sfn.Condition.jsonata(
                f"{{% {elapsed} >= {step.bake_s * 1000} and $served >= {step.min_requests} and "
                f"$millis() >= $readyAt %}}"), done)
            gate.when(sfn.Condition.jsonata(f"{{% {elapsed} >= {step.hold_limit_s * 1000} %}}"), self._reason(
                f"NoEvidence{index}",
                f"'step {index + 1} ({step.percent:g} %): not enough evidence: ' & $string($served) & ' of "
                f"{step.min_requests} requests' & ($millis() >= $readyAt ? '' : ', no evaluated window with its "
                f"data yet') & ' within the hold limit of {step.hold_limit_s} s; not promoting an untried version'"))
        gate.otherwise(wait)
        return done

    def _quality_check(self, index: int, step: RolloutStep) -> tasks.CallAwsService:
        """GetMetricData of both versions' online quality signals since the step began, judged by
        `quality_expression` (the rule of `deployer.evaluation.online.quality_drop`)."""
        gate = self._rollout.quality
        assert gate is not None
        period = step.metric_period_s

        def stat(query_id: str, metric: str, version: str, statistic: str, label: str | None = None) -> dict[str, Any]:
            dims = [*self._dimensions[:2], {"Name": "Version", "Value": version}]
            if label is not None:
                dims.append({"Name": "Label", "Value": label})
            return {"Id": query_id, "ReturnData": True, "MetricStat": {"Metric": {
                "Namespace": METRIC_NAMESPACE, "MetricName": metric, "Dimensions": dims}, "Period": period,
                "Stat": statistic}}

        queries: list[dict[str, Any]] = []
        for prefix, version in (("s", "{% $stable %}"), ("c", "{% $candidate %}")):
            queries += [stat(f"{prefix}{i}", "Answers", version, "Sum", label) for i, label in enumerate(gate.labels)]
            if gate.low_confidence:
                queries += [stat(f"{prefix}low", "LowConfidence", version, "Sum"),
                            stat(f"{prefix}n", "LowConfidence", version, "SampleCount")]
        check = tasks.CallAwsService.jsonata(
            self, f"Quality{index}",
            service="cloudwatch", action="getMetricData", iam_action="cloudwatch:GetMetricData", iam_resources=["*"],
            parameters={"MetricDataQueries": queries,
                        "StartTime": f"{{% $fromMillis($ceil($stepStart / {period * 1000}) * {period * 1000}) %}}",
                        "EndTime": "{% $now() %}"},
            assign={"qualityReason": quality_expression(gate)},
        )
        self._catch(check, f"reading the quality signals in step {index + 1}")
        return check

    # -- rolling back -----------------------------------------------------------------------
    def _rollback_path(self) -> tasks.CallAwsService:
        rollback = self._update_alias("Rollback", "{% $stable %}", "{% {} %}")
        rollback.add_retry(errors=["States.ALL"], interval=cdk.Duration.seconds(2), max_attempts=ROLLBACK_ATTEMPTS,
                           backoff_rate=2, max_delay=cdk.Duration.seconds(60), jitter_strategy=sfn.JitterType.FULL)
        failed = sfn.Fail.jsonata(self, "RollbackFailed", error="RollbackFailed",
                                  cause="{% 'could not restore the alias to version ' & $stable & ': ' & $reason %}")
        rollback.add_catch(self._notify_then("RollbackFailedNotice", "could not roll back", failed), errors=["States.ALL"],
                           assign={"reason": "{% $reason & '; the rollback itself failed: ' & "
                                             "$states.errorOutput.Error & ' ' & $string($states.errorOutput.Cause) %}"})
        rolled_back = sfn.Fail.jsonata(self, "RolledBack", error="RolloutRolledBack", cause="{% $reason %}")
        rollback.next(self._notify_then("NotifyRollback", "rolled back", rolled_back))
        return rollback

    def _reason(self, state_id: str, expression: str) -> sfn.Pass:
        state = sfn.Pass.jsonata(self, state_id, assign={"reason": f"{{% {expression} %}}"})
        state.next(self._rollback)
        return state

    def _catch(self, task: tasks.CallAwsService, doing: str) -> None:
        """Retry throttles and 5xx with backoff; anything still failing rolls back."""
        task.add_retry(errors=["States.ALL"], interval=cdk.Duration.seconds(2), max_attempts=RETRY_ATTEMPTS,
                       backoff_rate=2, max_delay=cdk.Duration.seconds(60), jitter_strategy=sfn.JitterType.FULL)
        task.add_catch(self._rollback, errors=["States.ALL"], assign={
            "reason": f"{{% 'failed {doing}: ' & $states.errorOutput.Error & ' ' & $string($states.errorOutput.Cause) %}}"})

    def _update_alias(self, state_id: str, version: str, weights: str,
                      assign: dict[str, Any] | None = None) -> tasks.CallAwsService:
        return tasks.CallAwsService.jsonata(
            self, state_id,
            service="lambda", action="updateAlias", iam_action="lambda:UpdateAlias",
            iam_resources=self._alias_resources,
            parameters={"FunctionName": self._function.function_name, "Name": self._alias,
                        "FunctionVersion": version, "RoutingConfig": {"AdditionalVersionWeights": weights}},
            assign=assign,
        )

    def _notify_then(self, state_id: str, outcome: str, end: sfn.State) -> sfn.IChainable:
        """One message per rollout topic, then `end`. A topic still unreachable after its retries does
        not change the outcome (the execution's status and the deploy command still report it)."""
        chain: list[Any] = []
        for index, topic in enumerate(self._notify):
            publish = tasks.SnsPublish.jsonata(
                self, f"{state_id}{index}", topic=topic, subject=f"{self._name}: rollout {outcome}",
                message=sfn.TaskInput.from_text(
                    f"{{% 'rollout of version ' & $candidate & ' {outcome} (stable: ' & $stable & ')' "
                    f"& ($reason = '' ? '' : ': ' & $reason) %}}"),
            )
            publish.add_retry(errors=["States.ALL"], interval=cdk.Duration.seconds(2), max_attempts=RETRY_ATTEMPTS,
                              backoff_rate=2, max_delay=cdk.Duration.seconds(60), jitter_strategy=sfn.JitterType.FULL)
            chain.append(publish)
        chain.append(end)
        for before, after in itertools.pairwise(chain):
            before.next(after)
            before.add_catch(after, errors=["States.ALL"])
        return chain[0]  # type: ignore[no-any-return]

    def _abnormal_end_rule(self, name: str) -> None:
        """An execution that times out or is stopped by hand never rolled back: tell the rollout's topics."""
        if not self._notify:
            return
        rule = events.Rule(
            self, "AbnormalEnd",
            description=f"Rollout executions of {name} that timed out or were stopped",
            event_pattern=events.EventPattern(
                source=["aws.states"], detail_type=["Step Functions Execution Status Change"],
                detail={"status": ["TIMED_OUT", "ABORTED"], "stateMachineArn": [self.state_machine.state_machine_arn]}),
        )
        message = events.RuleTargetInput.from_text(
            f"rollout execution {events.EventField.from_path('$.detail.name')} of {name} ended "
            f"{events.EventField.from_path('$.detail.status')} without finishing: the live alias may still route "
            f"traffic to the new version. Check `deployer status`, and run `deployer rollback` if it does.")
        for topic in self._notify:
            rule.add_target(targets.SnsTopic(topic, message=message))
