"""The function, its version, the `live` alias and the Function URL."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import STABLE_VERSION, Synthesized


def test_function_takes_runtime_memory_timeout_concurrency_and_tracing_from_the_model(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    name = synthesized.hand["steps"]
    fn = synthesized.models[name].function
    templates[name].has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": fn.name,
        "Handler": "handlers.runtime.handler",
        "Runtime": "python3.12",
        "Architectures": ["x86_64"],
        "MemorySize": fn.memory_mb,
        "Timeout": fn.timeout_s,
        "ReservedConcurrentExecutions": fn.reserved_concurrency,
        "TracingConfig": {"Mode": "Active"},
        "LoggingConfig": {"LogGroup": Match.any_value()},
        "Environment": {"Variables": Match.object_like({"LOG_LEVEL": "INFO",
                                                       "DEPLOYER_SPEC_HASH": synthesized.models[name].spec_hash})},
    })
    templates[name].has_resource_properties("AWS::Logs::LogGroup", {
        "LogGroupName": f"/aws/lambda/{fn.name}", "RetentionInDays": 30})


def test_arm64_without_tracing_or_concurrency_is_rendered_as_such(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    template = templates[synthesized.hand["first"]]
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "handlers.runtime.handler", "Architectures": ["arm64"],
        "ReservedConcurrentExecutions": Match.absent(), "TracingConfig": Match.absent()})
    template.has_resource_properties("AWS::Lambda::Alias", {"ProvisionedConcurrencyConfig": Match.absent()})


def test_version_is_retained_and_described_by_the_spec_hash(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    name = synthesized.hand["canary"]
    templates[name].resource_count_is("AWS::Lambda::Version", 1)
    templates[name].has_resource("AWS::Lambda::Version", {
        "DeletionPolicy": "Retain",
        "Properties": {"Description": f"spec {synthesized.models[name].spec_hash[:12]}",
                       "FunctionName": Match.any_value()},
    })


def test_codedeploy_alias_serves_the_new_version_and_shifts_through_its_update_policy(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    template = templates[synthesized.hand["canary"]]
    template.has_resource("AWS::Lambda::Alias", {
        "Properties": {"Name": "live", "FunctionVersion": {"Fn::GetAtt": [Match.string_like_regexp("CurrentVersion"),
                                                                          "Version"]},
                       "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2}},
        "UpdatePolicy": {"CodeDeployLambdaAliasUpdate": {
            "ApplicationName": Match.any_value(), "DeploymentGroupName": Match.any_value()}},
    })


def test_step_functions_alias_stays_on_the_stable_version_until_the_state_machine_shifts(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    template = templates[synthesized.hand["steps"]]
    template.has_resource("AWS::Lambda::Alias", {
        "Properties": {"Name": "live", "FunctionVersion": STABLE_VERSION, "RoutingConfig": Match.absent()},
        "UpdatePolicy": Match.absent(),
    })


def test_first_step_functions_deployment_points_the_alias_at_the_new_version(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    templates[synthesized.hand["first"]].has_resource_properties("AWS::Lambda::Alias", {
        "FunctionVersion": {"Fn::GetAtt": [Match.string_like_regexp("CurrentVersion"), "Version"]}})


def test_function_url_is_on_the_alias_with_iam_auth(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    for name in synthesized.result.templates:
        templates[name].resource_count_is("AWS::Lambda::Url", 1)
        templates[name].has_resource_properties("AWS::Lambda::Url", {
            "AuthType": "AWS_IAM", "Qualifier": "live", "TargetFunctionArn": Match.any_value()})


def test_a_config_only_change_publishes_a_new_version(synthesized: Synthesized) -> None:
    """Same code and function, another spec hash: the version's logical id, hence the version, changes."""

    def version_id(hand: str) -> str:
        resources = synthesized.template_json(synthesized.hand[hand])["Resources"]
        return str(next(key for key, value in resources.items()  # type: ignore[attr-defined]
                        if value["Type"] == "AWS::Lambda::Version"))

    assert version_id("config_a") == version_id("config_a_again")
    assert version_id("config_a") != version_id("config_changed")
