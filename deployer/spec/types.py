"""Scalar types shared by the spec models: durations, secret references, names."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

_DURATION_PART = re.compile(r"(\d{1,12}(?:\.\d{1,12})?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: The longest duration anything in a spec may take (Step Functions' limit for a whole execution).
MAX_DURATION_S = 365 * 86400.0


def parse_duration(value: Any) -> Any:
    """`90`, `"90"`, `"90s"`, `"5m"`, `"1h30m"`, `"250ms"` -> seconds as a float.

    Infinite, NaN and longer-than-a-year values are refused here (they would overflow later);
    anything else that is not a duration is passed through for pydantic to reject.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h, not a boolean")
    if isinstance(value, (int, float)):
        return _bounded(float(value), value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d{1,12}(\.\d{1,12})?", text):
            return _bounded(float(text), value)
        parts = _DURATION_PART.findall(text) if len(text) <= 64 else []
        if parts and "".join(num + unit for num, unit in parts) == text:
            return _bounded(sum(float(num) * _UNIT_SECONDS[unit] for num, unit in parts), value)
        shown = repr(value) if len(value) <= 40 else repr(value[:40] + "...")
        raise ValueError(f"{shown} is not a duration; write seconds (90) or e.g. 250ms, 30s, 5m, 1h30m")
    return value


def _bounded(seconds: float, given: Any) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"{given!r} is not a finite duration; write seconds (90) or e.g. 30s, 5m, 1h")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"{given!r} is longer than a year (365d), the longest duration a spec may give")
    return seconds


def check_lambda_timeout(seconds: float) -> float:
    """Lambda function timeouts are whole seconds, from 1 s to 900 s (15m)."""
    if seconds < 1 or seconds != int(seconds):
        raise ValueError(f"{format_duration(seconds)} cannot be a Lambda timeout, which is whole seconds from 1s to "
                         f"900s (15m); write e.g. 1s, 10s or 1m")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as people write them in agent.yaml: 90 -> "90s", 300 -> "5m", 5400 -> "1h30m"."""
    if seconds <= 0 or seconds != int(seconds) or seconds < 60 or seconds % 60:
        return f"{seconds:g}s"
    hours, minutes = divmod(int(seconds) // 60, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "description": "seconds"},
        {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$", "examples": ["30s", "5m", "1h"]},
    ]
}

#: A duration in seconds; YAML may say 90, "90s", "5m", "1h30m" or "250ms".
Duration = Annotated[
    float, BeforeValidator(parse_duration), Field(ge=0), WithJsonSchema(_DURATION_SCHEMA)
]
#: A Lambda function timeout: a duration of whole seconds, 1s to 15m.
LambdaTimeout = Annotated[Duration, Field(le=900), AfterValidator(check_lambda_timeout)]


def check_python_version(value: Any) -> Any:
    """`python: 3.12` unquoted is a float to YAML (and 3.10 becomes 3.1): say to quote it."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        written = "3.10" if value == 3.1 else f"{value:g}"
        raise ValueError(f"{written} is read by YAML as a number, not a version (an unquoted 3.10 even becomes 3.1); "
                         f"quote it: python: \"{written}\"")
    return value

SECRET_REF_PATTERN = r"^(ssm:/[A-Za-z0-9_.\-/]+|secretsmanager:[A-Za-z0-9_+=.@\-/]+)$"
SECRET_REF_HINT = (
    "store the value in SSM Parameter Store or Secrets Manager and reference it, "
    "e.g. ssm:/my-agent/api-key or secretsmanager:my-agent/api-key"
)


def check_secret_ref(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(SECRET_REF_PATTERN, value):
        raise ValueError(f"must be a secret reference, not a literal value; {SECRET_REF_HINT}")
    return value


#: A reference to a secret, never the secret itself.
SecretRef = Annotated[
    str,
    BeforeValidator(check_secret_ref),
    WithJsonSchema({"type": "string", "pattern": SECRET_REF_PATTERN, "examples": ["ssm:/agent/key"]}),
]

_LOOPBACK = re.compile(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/.*)?$")


def is_loopback_url(value: str) -> bool:
    return bool(_LOOPBACK.match(value))


def check_secret_or_loopback(value: Any) -> Any:
    """A secret reference, or a plain http URL on loopback (local test receivers)."""
    if isinstance(value, str) and not is_loopback_url(value):
        return check_secret_ref(value)
    return value


SecretOrLoopbackUrl = Annotated[
    str,
    BeforeValidator(check_secret_or_loopback),
    WithJsonSchema(
        {
            "type": "string",
            "description": "a secret reference (ssm:/..., secretsmanager:...) or a loopback http URL",
        }
    ),
]


def check_url(value: Any) -> Any:
    if isinstance(value, str) and not (value.startswith("https://") or is_loopback_url(value)):
        raise ValueError(
            f"{value!r} must be an https:// URL (plain http is only allowed on loopback, e.g. http://127.0.0.1:9999/)"
        )
    return value


HttpsUrl = Annotated[str, BeforeValidator(check_url), WithJsonSchema({"type": "string", "format": "uri"})]

AGENT_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
IDENTIFIER_PATTERN = r"^[a-z_][a-z0-9_]{0,63}$"
ENVIRONMENT_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,19}$"
ENTRYPOINT_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
ACCOUNT_PATTERN = r"^\d{12}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
STATISTIC_PATTERN = r"^(p\d{1,2}(\.\d+)?|Average|Maximum|Minimum)$"

#: What each pattern means, in words, for error messages (the regex itself helps nobody).
PATTERN_HELP: dict[str, str] = {
    AGENT_NAME_PATTERN: "lowercase letters, digits and dashes, starting with a letter, at most 40 characters",
    IDENTIFIER_PATTERN: "lowercase letters, digits and underscores, starting with a letter or underscore",
    ENVIRONMENT_NAME_PATTERN: "lowercase letters, digits and dashes, starting with a letter, at most 20 characters",
    ENTRYPOINT_PATTERN: "module:Class, e.g. router_agent:SupportRouter",
    REGION_PATTERN: "an AWS region such as us-east-1 or eu-west-1",
    ACCOUNT_PATTERN: "a 12-digit AWS account id, quoted (\"123456789012\")",
    EMAIL_PATTERN: "an email address such as oncall@example.com",
    STATISTIC_PATTERN: "a percentile (p50, p95, p99, p99.9) or Average, Maximum, Minimum",
}

AgentName = Annotated[
    str,
    Field(
        pattern=AGENT_NAME_PATTERN,
        description="lowercase letters, digits and dashes, starting with a letter; used in resource names",
    ),
]
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
EnvironmentName = Annotated[
    str,
    Field(pattern=ENVIRONMENT_NAME_PATTERN, description="lowercase letters, digits and dashes; used in resource names"),
]


class FieldProblem(ValueError):
    """A rule across fields, broken by one of them: raised in a model validator, reported at `field`.

    Without it pydantic places the error on the whole mapping; the loader uses `field` to point
    at the line that has to change.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
