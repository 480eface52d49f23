"""Names shared by the CDK app (`infra/`), the boto3 deploy path and the operations commands.

What a deployed environment's resources are called, and how a deployment says where they are:
`infra/` names and exports them, `deployer.aws.deploy` and `deployer.ops` read them back. No
aws_cdk import here (the ops commands must not pay for it).
"""

from __future__ import annotations

import re

from deployer.compiled import DeploymentModel
from handlers.records import OUTCOME_INDEX_SORT

#: The CDK bootstrap qualifier the default synthesizer uses (`cdk bootstrap`).
BOOTSTRAP_QUALIFIER = "hnb659fds"

#: Stack output keys, read back by `deployer deploy` and the ops commands.
OUTPUT_FUNCTION_NAME = "FunctionName"
OUTPUT_FUNCTION_VERSION = "FunctionVersion"
OUTPUT_ALIAS_ARN = "AliasArn"
OUTPUT_FUNCTION_URL = "FunctionUrl"
OUTPUT_TABLE_NAME = "RequestTableName"
OUTPUT_STATE_MACHINE_ARN = "RolloutStateMachineArn"
OUTPUT_DEPLOYMENT_GROUP = "DeploymentGroupName"
OUTPUT_DASHBOARD = "DashboardName"
OUTPUT_TOPIC_PREFIX = "Topic"

#: Environment variable that carries the spec hash into the function configuration, so that a
#: config-only change still publishes a new version.
SPEC_HASH_ENV = "DEPLOYER_SPEC_HASH"

#: The request log's second index: each version's records, newest first, read by key (`deployer
#: debug` and `status` compare versions with it, `errors --version N` lists one version's failures).
#: Partition `version` (S), sort `ts` (N, epoch ms), every attribute projected. The first index,
#: `by_outcome`, is named in `handlers.records` with the rest of the item schema.
VERSION_INDEX = "by_version"
VERSION_INDEX_PARTITION = "version"
VERSION_INDEX_SORT = OUTCOME_INDEX_SORT


def stack_name(model: DeploymentModel) -> str:
    """CloudFormation stack name of one agent in one environment, e.g. `support-router-staging`."""
    raw = f"{model.agent}-{model.environment}"
    name = re.sub(r"[^A-Za-z0-9-]", "-", raw).strip("-")
    return name if name[:1].isalpha() else f"a-{name}"


def assets_bucket(account: str, region: str) -> str:
    return f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{account}-{region}"


def alarm_name(model: DeploymentModel, alarm: str) -> str:
    """Alarm names are stable across versions: the Version dimension changes, the name does not."""
    return f"{stack_name(model)}-{alarm}"


def output_key(name: str) -> str:
    """A CloudFormation output key from any name (alphanumeric only)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)
