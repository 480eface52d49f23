"""The request-log table and the log subscription that fills it (`handlers.recorder`)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_logs_destinations as destinations
from constructs import Construct

from deployer import naming
from deployer.compiled import FunctionModel, RequestLogModel
from handlers import records
from handlers.recorder import TABLE_ENV, TTL_ENV
from infra.function import acknowledge_pinned_runtime, log_retention, python_runtime

RECORDER_HANDLER = "handlers.recorder.handler"


class RequestLog(Construct):
    """Table (TTL, PITR, encryption, the outcome and version indexes) plus the recorder fed by `source_logs`."""

    def __init__(self, scope: Construct, id: str, *, request_log: RequestLogModel, function: FunctionModel,
                 bundle_code: lambda_.Code, source_logs: logs.ILogGroup) -> None:
        super().__init__(scope, id)
        self.table = dynamodb.Table(
            self, "Table",
            table_name=request_log.table_name,
            partition_key=dynamodb.Attribute(name=records.TABLE_PARTITION_KEY,
                                             type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=records.TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.table.add_global_secondary_index(
            index_name=records.OUTCOME_INDEX,
            partition_key=dynamodb.Attribute(name=records.OUTCOME_INDEX_PARTITION,
                                             type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=records.OUTCOME_INDEX_SORT, type=dynamodb.AttributeType.NUMBER),
        )
        # each version's records by key, newest first: `deployer debug` and `status` compare versions with it
        self.table.add_global_secondary_index(
            index_name=naming.VERSION_INDEX,
            partition_key=dynamodb.Attribute(name=naming.VERSION_INDEX_PARTITION, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=naming.VERSION_INDEX_SORT, type=dynamodb.AttributeType.NUMBER),
        )
        recorder_name = f"{function.name}-recorder"
        self.log_group = logs.LogGroup(
            self, "RecorderLogs",
            log_group_name=f"/aws/lambda/{recorder_name}",
            retention=log_retention(function.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        role = iam.Role(self, "RecorderRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"{recorder_name}: writes request records to its table only")
        self.log_group.grant_write(role)
        self.recorder = lambda_.Function(
            self, "Recorder",
            function_name=recorder_name,
            code=bundle_code,
            handler=RECORDER_HANDLER,
            runtime=python_runtime(function.python),
            architecture=(lambda_.Architecture.ARM_64 if function.architecture == "arm64"
                          else lambda_.Architecture.X86_64),
            memory_size=256,
            timeout=cdk.Duration.seconds(30),
            log_group=self.log_group,
            role=role,
            environment={TABLE_ENV: self.table.table_name,
                         TTL_ENV: str(request_log.ttl_days)},
            description=f"Writes request records of {function.name} into {request_log.table_name}",
        )
        acknowledge_pinned_runtime(self.recorder, function.python)
        # Writes go to the base table only (no index ARN, no wildcard).
        role.add_to_policy(iam.PolicyStatement(actions=["dynamodb:PutItem", "dynamodb:BatchWriteItem"],
                                               resources=[self.table.table_arn]))
        self.subscription = logs.SubscriptionFilter(
            self, "Subscription",
            log_group=source_logs,
            destination=destinations.LambdaDestination(self.recorder),
            filter_pattern=logs.FilterPattern.string_value("$.event", "=", records.REQUEST_EVENT),
        )
