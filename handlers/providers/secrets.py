"""Secret references (`ssm:/path`, `secretsmanager:name`, `env:NAME`) resolved on first use.

boto3 is imported only when a reference needs it; it honours `AWS_ENDPOINT_URL`, so the same
code reads moto or the emulator locally. Values are cached for the life of the process and are
never logged.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_cache: dict[str, str] = {}
_lock = threading.Lock()


class SecretError(Exception):
    """A secret reference that cannot be resolved."""


def is_reference(value: str | None) -> bool:
    return bool(value) and str(value).startswith(("ssm:", "secretsmanager:", "env:"))


def resolve_secret(value: str, *, region: str | None = None, session: Any = None) -> str:
    """The secret a reference points at; a plain value is returned as is."""
    if not is_reference(value):
        return value
    with _lock:
        if value in _cache:
            return _cache[value]
        kind, _, name = value.partition(":")
        try:
            secret = os.environ[name] if kind == "env" else _from_aws(kind, name, region, session)
        except SecretError:
            raise
        except KeyError:
            raise SecretError(f"secret {value}: environment variable {name} is not set") from None
        except Exception as exc:
            raise SecretError(f"secret {value} could not be read: {type(exc).__name__}: {exc}") from None
        _cache[value] = secret
        return secret


def _from_aws(kind: str, name: str, region: str | None, session: Any) -> str:
    if session is None:
        import boto3

        session = boto3.session.Session()
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if kind == "ssm":
        client = session.client("ssm", region_name=region)
        response = client.get_parameter(Name=name, WithDecryption=True)
        return str(response["Parameter"]["Value"])
    client = session.client("secretsmanager", region_name=region)
    response = client.get_secret_value(SecretId=name)
    if "SecretString" not in response:
        raise SecretError(f"secret secretsmanager:{name} has no SecretString")
    return str(response["SecretString"])


def clear_cache() -> None:
    with _lock:
        _cache.clear()
