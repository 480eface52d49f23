"""The request-log table and the subscription that fills it."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from deployer import naming
from handlers import records
from tests.infra.conftest import Synthesized


def test_table_has_the_records_schema_ttl_pitr_encryption_and_both_indexes(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    for name, model in synthesized.models.items():
        templates[name].has_resource("AWS::DynamoDB::Table", {
            "DeletionPolicy": "Retain",
            "Properties": {
                "TableName": model.request_log.table_name,
                "KeySchema": [{"AttributeName": records.TABLE_PARTITION_KEY, "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
                "TimeToLiveSpecification": {"AttributeName": records.TTL_ATTRIBUTE, "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "GlobalSecondaryIndexes": [{
                    "IndexName": records.OUTCOME_INDEX,
                    "KeySchema": [{"AttributeName": records.OUTCOME_INDEX_PARTITION, "KeyType": "HASH"},
                                  {"AttributeName": records.OUTCOME_INDEX_SORT, "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"},
                }, {
                    "IndexName": naming.VERSION_INDEX,
                    "KeySchema": [{"AttributeName": naming.VERSION_INDEX_PARTITION, "KeyType": "HASH"},
                                  {"AttributeName": naming.VERSION_INDEX_SORT, "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"},
                }],
            },
        })


def test_recorder_subscribes_to_request_lines_of_the_function_log_group(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    name = synthesized.hand["steps"]
    model = synthesized.models[name]
    template = templates[name]
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "handlers.recorder.handler",
        "Environment": {"Variables": {"DEPLOYER_REQUEST_TABLE": {"Ref": Match.string_like_regexp("RequestLogTable")},
                                      "DEPLOYER_RECORD_TTL_DAYS": str(model.request_log.ttl_days)}},
    })
    template.has_resource_properties("AWS::Logs::SubscriptionFilter", {
        "FilterPattern": f'{{ $.event = "{records.REQUEST_EVENT}" }}',
        "LogGroupName": {"Ref": Match.string_like_regexp("AgentLogs")},
        "DestinationArn": {"Fn::GetAtt": [Match.string_like_regexp("RequestLogRecorder"), "Arn"]},
    })


def test_recorder_may_only_write_items_to_its_table(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    templates[synthesized.hand["steps"]].has_resource_properties("AWS::IAM::Policy", {
        "PolicyName": Match.string_like_regexp("RecorderRole"),
        "PolicyDocument": {"Statement": Match.array_with([{
            "Action": ["dynamodb:PutItem", "dynamodb:BatchWriteItem"], "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [Match.string_like_regexp("RequestLogTable"), "Arn"]}}])},
    })
