"""S3: upload assets to the CDK bootstrap bucket, once per content hash."""

from __future__ import annotations

from typing import Any

from deployer.aws.errors import aws_call, not_found
from deployer.errors import DeployerError

BOOTSTRAP_HINT = "run `cdk bootstrap aws://ACCOUNT/REGION` once per account and region"


class Objects:
    def __init__(self, client: Any) -> None:
        self.client = client

    def require_bucket(self, bucket: str) -> None:
        with aws_call("s3:HeadBucket", bucket, BOOTSTRAP_HINT):
            self.client.head_bucket(Bucket=bucket)

    def exists(self, bucket: str, key: str) -> bool:
        try:
            with aws_call("s3:HeadObject", f"s3://{bucket}/{key}"):
                self.client.head_object(Bucket=bucket, Key=key)
            return True
        except DeployerError as exc:
            if not_found(exc):
                return False
            raise

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        with aws_call("s3:PutObject", f"s3://{bucket}/{key}", BOOTSTRAP_HINT):
            self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
