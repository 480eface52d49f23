"""The one error wrapper of the AWS access layer: a botocore failure becomes a `DeployerError`
that names the operation, the resource and what to do.

A problem of the caller (credentials, permissions, throttling) gets the same advice whatever the
call; a problem of the resource (missing, not bootstrapped) gets the call site's suggestion
first, then the general one for its error code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from deployer.errors import DeployerError

_PERMISSION = ("the credentials lack this permission: check the role or profile in use "
               "(`aws sts get-caller-identity`) and its IAM permissions")
_EXPIRED = "the session expired: refresh your credentials (`aws sso login`, or a new session token)"
_THROTTLED = "AWS throttled the call: retry in a moment, or ask for less (--limit, --since)"
_NOT_DEPLOYED = "has this environment been deployed (`deployer deploy --env ENV`)?"

#: The caller's problems: this advice applies whatever the operation, and wins over the call site's.
CALLER_SUGGESTIONS = {
    "AccessDenied": _PERMISSION,
    "AccessDeniedException": _PERMISSION,
    "UnauthorizedOperation": _PERMISSION,
    "ExpiredToken": _EXPIRED,
    "ExpiredTokenException": _EXPIRED,
    "InvalidClientTokenId": "the access key is not valid for this account: check AWS_PROFILE",
    "UnrecognizedClientException": "the access key is not valid for this account: check AWS_PROFILE",
    "Throttling": _THROTTLED,
    "ThrottlingException": _THROTTLED,
    "TooManyRequestsException": _THROTTLED,
    "ProvisionedThroughputExceededException": _THROTTLED,
    "RequestLimitExceeded": _THROTTLED,
}
#: The resource's problems: the call site's suggestion comes first, this one when it gave none.
RESOURCE_SUGGESTIONS = {
    "ResourceNotFoundException": _NOT_DEPLOYED,
    "NotFoundException": _NOT_DEPLOYED,
    "NoSuchBucket": "the CDK bootstrap bucket is missing: run `cdk bootstrap aws://ACCOUNT/REGION` once",
}


def error_code(exc: BaseException | None) -> str:
    """The AWS error code of a botocore `ClientError` ("" for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def suggestion_for(code: str, suggestion: str | None = None) -> str | None:
    return CALLER_SUGGESTIONS.get(code) or suggestion or RESOURCE_SUGGESTIONS.get(code)


@contextmanager
def aws_call(operation: str, resource: str, suggestion: str | None = None) -> Iterator[None]:
    """Wrap one AWS call: any botocore failure becomes a `DeployerError` a person can act on.

    The original exception stays the `__cause__` (`error_code(exc.__cause__)` reads its code).
    """
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise DeployerError(f"{operation} on {resource} failed: {code}: {message}",
                            hint=suggestion_for(code, suggestion)) from exc
    except NoCredentialsError as exc:
        raise DeployerError(f"{operation} on {resource}: no AWS credentials found",
                            hint="configure credentials (AWS_PROFILE, `aws sso login`, or AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY), or use an environment with `target: local`") from exc
    except EndpointConnectionError as exc:
        raise DeployerError(f"{operation} on {resource}: cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}",
                            hint="is the emulator running (`deployer local up`)? is the region right?") from exc
    except BotoCoreError as exc:
        raise DeployerError(f"{operation} on {resource} failed: {exc}", hint=suggestion) from exc


def not_found(exc: DeployerError) -> bool:
    """Whether a wrapped failure says the resource does not exist."""
    return error_code(exc.__cause__) in ("ResourceNotFoundException", "NotFoundException", "NotFound", "404", "NoSuchKey")
