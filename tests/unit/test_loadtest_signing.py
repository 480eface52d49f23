"""SigV4 for Function URLs with IAM auth: service "lambda", the URL's region, a verifiable signature."""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from deployer.loadtest.signing import SigV4Signer

URL = "https://abcdefghij1234567890.lambda-url.eu-west-1.on.aws/route"


def test_signed_headers_name_the_lambda_service_and_region() -> None:
    signer = SigV4Signer("eu-west-1", credentials=Credentials("AKIDEXAMPLE", "secret", "token"))
    headers = signer.headers("POST", URL, b'{"message":"hi"}', {"Content-Type": "application/json"})
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/lambda/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == "token"
    assert "content-type" in headers["Authorization"].split("SignedHeaders=")[1]


def test_signature_verifies_against_the_same_key_and_body() -> None:
    credentials = Credentials("AKIDEXAMPLE", "secret")
    body = b'{"message":"hi"}'
    headers = SigV4Signer("eu-west-1", credentials=credentials).headers(
        "POST", URL, body, {"Content-Type": "application/json"})
    request = AWSRequest(method="POST", url=URL, data=body,
                         headers={"Content-Type": "application/json", "X-Amz-Date": headers["X-Amz-Date"]})
    request.context["timestamp"] = headers["X-Amz-Date"]
    auth = SigV4Auth(credentials, "lambda", "eu-west-1")
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    assert headers["Authorization"].endswith(f"Signature={expected}")
    tampered = AWSRequest(method="POST", url=URL, data=b'{"message":"bye"}',
                          headers={"Content-Type": "application/json", "X-Amz-Date": headers["X-Amz-Date"]})
    tampered.context["timestamp"] = headers["X-Amz-Date"]
    assert auth.signature(auth.string_to_sign(tampered, auth.canonical_request(tampered)), tampered) != expected
