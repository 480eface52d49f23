"""Notification targets, and the rules that keep their secrets out of an AWS template.

In an AWS environment every paging or chat target is delivered by a forwarder Lambda whose
configuration lands in the CloudFormation template, so:

- a PagerDuty target needs `routing_key` (a secret reference): its URL alone cannot page;
- no URL may be a loopback address (`http://127.0.0.1...`: a local test receiver; the forwarder
  refuses plain http);
- a webhook URL may not carry a query string or user info, which may hold a token (the shared
  secret goes in `secret:`, a reference).

The emulator (`target: local`) delivers to loopback receivers, so these rules apply to AWS
environments only. infra/ reads the compiled targets and judges nothing.
"""

from __future__ import annotations

from deployer.compiled import NotificationModel
from deployer.compiler.problems import Problems
from deployer.spec.models import AgentSpec, EmailTarget, EnvironmentSpec, PagerDutyTarget, SlackTarget, WebhookTarget
from deployer.spec.types import is_loopback_url


def compile_notifications(spec: AgentSpec, env: EnvironmentSpec, prefix: str, problems: Problems) -> list[NotificationModel]:
    out = []
    for name, target in spec.notifications.items():
        topic = f"{prefix}-{name}".replace("_", "-")
        if env.target == "aws":
            _check_aws_target(name, target, problems)
        if isinstance(target, PagerDutyTarget):
            out.append(NotificationModel(name, "pagerduty", target.url, target.routing_key, (), topic))
        elif isinstance(target, SlackTarget):
            out.append(NotificationModel(name, "slack", target.webhook_url, None, (), topic))
        elif isinstance(target, EmailTarget):
            out.append(NotificationModel(name, "email", target.addresses[0], None, tuple(target.addresses), topic))
        elif isinstance(target, WebhookTarget):
            out.append(NotificationModel(name, "webhook", target.url, target.secret, (), topic))
    return out


#: Every rule here depends on the environment's target.
_ENVIRONMENT = ("environment",)


def _check_aws_target(name: str, target: object, problems: Problems) -> None:
    path = ("notifications", name)
    if isinstance(target, PagerDutyTarget):
        if target.routing_key is None:
            problems.error((*path, "type"), "a PagerDuty target needs routing_key, a reference to its Events v2 routing "
                                            "key, to page from an AWS environment; add routing_key: ssm:/path/to/routing-key",
                           reads=_ENVIRONMENT)
        if is_loopback_url(target.url):
            problems.error((*path, "url"), _loopback(target.url, "remove url to use PagerDuty's Events API, "
                                                                        "or give an https:// URL"), reads=_ENVIRONMENT)
    elif isinstance(target, SlackTarget) and is_loopback_url(target.webhook_url):
        problems.error((*path, "webhook_url"), _loopback(target.webhook_url, "reference the incoming-webhook URL "
                                                                                    "stored as a secret, e.g. "
                                                                                    "secretsmanager:my-agent/slack-webhook"),
                       reads=_ENVIRONMENT)
    elif isinstance(target, WebhookTarget):
        if is_loopback_url(target.url):
            problems.error((*path, "url"), _loopback(target.url, "give the receiver's https:// URL"), reads=_ENVIRONMENT)
        elif _carries_credentials(target.url):
            problems.error((*path, "url"), "a webhook URL with a query string or user info may carry a credential, and "
                                           "the URL is written into the CloudFormation template; remove it from the URL "
                                           "and send the credential as secret: (a reference, e.g. "
                                           "secretsmanager:my-agent/webhook-token), which the forwarder sends as a "
                                           "bearer token", reads=_ENVIRONMENT)


def _loopback(url: str, fix: str) -> str:
    return f"{url!r} is a loopback address, which only a local test receiver listens on, not an AWS environment; {fix}"


def _carries_credentials(url: str) -> bool:
    """A query string or user info may hold a token."""
    rest = url.split("://", 1)[-1]
    return "?" in url or "@" in rest.split("/", 1)[0]
