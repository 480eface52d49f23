"""The CDK app: a `DeploymentModel` becomes one CloudFormation stack per agent and environment.

Only this package imports aws_cdk. Each module is one small construct built from the compiled
model with keyword-only props (`(scope, id, *, ...)`); `infra.stack.AgentStack` composes them and
does the wiring, `infra.app.build_app` adds cdk-nag and the stacks to an app. The names shared with
the boto3 deploy path and the ops commands (stack, alarm and output names) live in `deployer.naming`;
this package depends only on the compiled model and those names.
"""
