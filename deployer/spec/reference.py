"""The agent.yaml field reference, generated from the models so that it never drifts.

`python -m deployer.spec.reference > docs/agent-yaml-reference.md` regenerates it; a test checks
that the committed file is current.
"""

from __future__ import annotations

import json
from typing import Any

from deployer.spec.schema import agent_schema

_SECTION_ORDER = ("name", "description", "code", "runtime", "model", "actions", "monitoring", "slos", "alerts",
                  "notifications", "rollout", "budget", "evaluation", "environments")


def render_reference() -> str:
    schema = agent_schema()
    defs = schema["$defs"]
    lines = ["# agent.yaml reference", "",
             "Generated from the spec models (`python -m deployer.spec.reference`). Durations accept seconds "
             "(`90`) or units (`250ms`, `30s`, `5m`, `1h30m`). Secrets are references (`ssm:/path`, "
             "`secretsmanager:name`), never values.", ""]
    props = schema["properties"]
    required = set(schema.get("required", []))
    lines += ["### Top level", "", "| key | type | required | default | description |", "|---|---|---|---|---|"]
    order = [*_SECTION_ORDER, *(key for key in props if key not in _SECTION_ORDER)]  # a new section is never left out
    for key in order:
        lines.append(_row(key, props[key], key in required, defs))
    seen: set[str] = set()
    for key in order:
        for name in _models_of(props[key], defs):
            lines += _model_section(name, defs, seen)
    return "\n".join(lines).rstrip() + "\n"


def _model_section(name: str, defs: dict[str, Any], seen: set[str]) -> list[str]:
    if name in seen or "properties" not in defs[name]:
        return []
    seen.add(name)
    node = defs[name]
    out = ["", f"### {name}", ""]
    if node.get("description"):
        out += [node["description"].strip().splitlines()[0], ""]
    out += ["| key | type | required | default | description |", "|---|---|---|---|---|"]
    required = set(node.get("required", []))
    nested: list[str] = []
    for key, prop in node["properties"].items():
        out.append(_row(key, prop, key in required, defs))
        nested += _models_of(prop, defs)
    for child in nested:
        out += _model_section(child, defs, seen)
    return out


def _row(key: str, prop: dict[str, Any], required: bool, defs: dict[str, Any]) -> str:
    default = json.dumps(prop["default"]) if "default" in prop else ""
    description = " ".join(filter(None, [prop.get("description"), _bounds(prop)])).replace("|", "\\|")
    return f"| `{key}` | {_type(prop, defs)} | {'yes' if required else ''} | {default} | {description} |"


def _bounds(prop: dict[str, Any]) -> str:
    symbols = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<", "minLength": "length >=",
               "minItems": "at least", "pattern": "matches"}
    for branch in [prop, *prop.get("anyOf", [])]:
        found = [f"{symbols[k]} `{branch[k]}`" for k in symbols if k in branch]
        if found:
            return "(" + ", ".join(found) + ")"
    return ""


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    for union in ("anyOf", "oneOf"):
        if union in prop:
            kinds = [_type(p, defs) for p in prop[union] if p.get("type") != "null"]
            if prop.get("description") == "seconds" or any(p.get("description") == "seconds" for p in prop[union]):
                return "duration"
            return " \\| ".join(dict.fromkeys(kinds))
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}), defs)}"
    if kind == "object":
        values = prop.get("additionalProperties") or next(iter(prop.get("patternProperties", {}).values()), None)
        return f"map of name to {_type(values, defs)}" if isinstance(values, dict) and values else "mapping"
    return str(kind)


def _models_of(prop: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    if "$ref" in prop:
        return [prop["$ref"].rsplit("/", 1)[-1]]
    out: list[str] = []
    for key in ("anyOf", "oneOf"):
        for branch in prop.get(key, []):
            out += _models_of(branch, defs)
    for key in ("items", "additionalProperties"):
        if isinstance(prop.get(key), dict):
            out += _models_of(prop[key], defs)
    for value in prop.get("patternProperties", {}).values():
        out += _models_of(value, defs)
    return out


if __name__ == "__main__":
    print(render_reference(), end="")
