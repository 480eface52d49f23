"""Turn botocore failures into `DeployerError`s that name the operation, the resource and a fix."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from deployer.errors import DeployerError

#: Error codes with a suggestion that applies whatever the operation.
SUGGESTIONS = {
    "AccessDenied": "the credentials lack this permission; check the role or profile you deploy with",
    "AccessDeniedException": "the credentials lack this permission; check the role or profile you deploy with",
    "ExpiredToken": "the session expired; refresh your credentials",
    "ExpiredTokenException": "the session expired; refresh your credentials",
    "InvalidClientTokenId": "the access key is not valid for this account; check AWS_PROFILE",
    "NoSuchBucket": "the CDK bootstrap bucket is missing; run `cdk bootstrap aws://ACCOUNT/REGION` once",
    "Throttling": "AWS throttled the call; retry in a minute",
}


def error_code(exc: BaseException | None) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_call(operation: str, resource: str, suggestion: str | None = None) -> Iterator[None]:
    """Wrap one AWS call: any botocore error becomes a `DeployerError`."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise DeployerError(f"{operation} on {resource} failed: {code}: {message}",
                            hint=SUGGESTIONS.get(code) or suggestion) from exc
    except NoCredentialsError as exc:
        raise DeployerError(f"{operation} on {resource}: no AWS credentials found",
                            hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY") from exc
    except BotoCoreError as exc:
        raise DeployerError(f"{operation} on {resource} failed: {exc}", hint=suggestion) from exc
