"""SigV4 signing for Lambda Function URLs with ``AuthType: AWS_IAM`` (service ``lambda``).

Used inside the locust process, where gevent is already imported, so botocore is imported only
here and only when signing is asked for.
"""

from __future__ import annotations

from typing import Any

from deployer.errors import DeployerError

SERVICE = "lambda"


class SigV4Signer:
    """Signs one request at a time; credentials come from the usual botocore chain."""

    def __init__(self, region: str, credentials: Any | None = None) -> None:
        from botocore.auth import SigV4Auth
        from botocore.session import get_session

        creds = credentials if credentials is not None else get_session().get_credentials()
        if creds is None:
            raise DeployerError("the target needs SigV4 (IAM auth) but no AWS credentials were found",
                                hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                                     "or pass --sign never for a URL without IAM auth")
        self.region = region
        self._auth = SigV4Auth(creds, SERVICE, region)

    def headers(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        """`headers` plus Authorization, X-Amz-Date (and X-Amz-Security-Token) for this request."""
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        self._auth.add_auth(request)
        return {key: str(value) for key, value in request.headers.items()}
