"""Lambda: the function's published versions, its alias, direct invocations, its Function URL."""

from __future__ import annotations

import json
from typing import Any

from deployer.aws.errors import aws_call, not_found
from deployer.errors import DeployerError

MAX_PAGES = 50


def version_key(version: str) -> int:
    """Numeric order of published versions (`$LATEST` and other names first)."""
    return int(version) if version.isdigit() else -1


class Functions:
    def __init__(self, client: Any) -> None:
        self.client = client

    def alias(self, function: str, alias: str) -> dict[str, Any] | None:
        """The alias (`FunctionVersion`, `RoutingConfig`), or None when the function or alias does not exist."""
        try:
            with aws_call("lambda:GetAlias", f"alias {alias} of function {function}"):
                return dict(self.client.get_alias(FunctionName=function, Name=alias))
        except DeployerError as exc:
            if not_found(exc):
                return None
            raise

    def alias_version(self, function: str, alias: str) -> str | None:
        """The version `alias` serves, or None when the function or the alias does not exist yet."""
        found = self.alias(function, alias)
        return None if found is None else str(found["FunctionVersion"])

    def routing(self, function: str, alias: str) -> tuple[str | None, dict[str, float]]:
        """(primary version, {additional version: weight}); (None, {}) when nothing is deployed."""
        found = self.alias(function, alias)
        if found is None:
            return None, {}
        weights = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return str(found.get("FunctionVersion")), {str(k): float(v) for k, v in weights.items()}

    def versions(self, function: str) -> list[dict[str, Any]]:
        """Every published version (not `$LATEST`), oldest first; [] when the function does not exist."""
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"FunctionName": function}
        for _ in range(MAX_PAGES):
            try:
                with aws_call("lambda:ListVersionsByFunction", f"function {function}"):
                    response = self.client.list_versions_by_function(**kwargs)
            except DeployerError as exc:
                if not_found(exc):
                    return []
                raise
            out += [v for v in response.get("Versions", []) if v.get("Version") != "$LATEST"]
            if not response.get("NextMarker"):
                break
            kwargs["Marker"] = response["NextMarker"]
        return sorted(out, key=lambda v: version_key(str(v.get("Version"))))

    def version_numbers(self, function: str) -> list[str]:
        return [str(v.get("Version")) for v in self.versions(function)]

    def point_alias(self, function: str, alias: str, version: str) -> None:
        """All traffic of `alias` to `version` at once (no additional weights)."""
        with aws_call("lambda:UpdateAlias", f"alias {alias} of {function}"):
            self.client.update_alias(FunctionName=function, Name=alias, FunctionVersion=version,
                                     RoutingConfig={"AdditionalVersionWeights": {}})

    def invoke(self, function: str, qualifier: str, payload: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
        """Invoke one version synchronously: (decoded payload, function error, request id)."""
        with aws_call("lambda:Invoke", f"function {function}:{qualifier}",
                      "check that the version exists (`deployer status`) and that you may invoke it"):
            response = self.client.invoke(FunctionName=function, Qualifier=qualifier, InvocationType="RequestResponse",
                                          Payload=json.dumps(payload).encode())
        raw = response["Payload"].read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"raw": raw.decode("utf-8", "replace")}
        request_id = response.get("ResponseMetadata", {}).get("RequestId")
        return (body if isinstance(body, dict) else {"value": body}), response.get("FunctionError"), request_id

    def url_config(self, function: str, qualifier: str, suggestion: str | None = None) -> dict[str, Any]:
        """The Function URL of `function:qualifier` (`FunctionUrl`, `AuthType`)."""
        with aws_call("lambda:GetFunctionUrlConfig", f"{function}:{qualifier}", suggestion):
            return dict(self.client.get_function_url_config(FunctionName=function, Qualifier=qualifier))
