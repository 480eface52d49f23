"""What `Pipeline` accepts besides environment names, as people who think in Python calls write it.

- `LoadTest(requests_per_second=100, duration_seconds=300, input_distribution="realistic")`: a
  load test as a value, for `Pipeline.run_load_test(load_test)`.
- `Pipeline(MyAgent)`: an agent class (or instance) instead of a spec path; `spec_for_agent`
  finds the agent.yaml whose `code.entrypoint` names it, searching upward from the class's file.
- Policy keywords (`rollout(initial_traffic=...)`, `alerts(on_error_rate_spike=...)`,
  `monitor(metrics=..., alerts=...)`): policy lives in agent.yaml, where every deploy (CLI, CI,
  Python) reads it, so these raise a `DeployerError` naming the keys to set, with a snippet.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer.errors import DeployerError

#: How many directories above the agent's file are searched for its agent.yaml.
SEARCH_DEPTH = 8
SPEC_NAMES = ("agent.yaml", "agent.yml")


@dataclass(frozen=True)
class LoadTest:
    """A load test: a request rate held for a duration with inputs from the spec's input file.

    `input_distribution="realistic"` draws inputs as the spec's `load_test` says (its input file of
    real requests, its distribution); naming a distribution must match `load_test.distribution`.
    None keeps the spec's value (`load_test.rps`, `load_test.duration`, `load_test.users`).
    """

    requests_per_second: float | None = None
    duration_seconds: float | None = None
    input_distribution: str = "realistic"
    users: int | None = None
    input_file: str | None = None

    def check_distribution(self, spec_distribution: str) -> None:
        if self.input_distribution in ("realistic", spec_distribution):
            return
        raise DeployerError(
            f"input_distribution={self.input_distribution!r}: the inputs are drawn as agent.yaml's load_test says "
            f"(distribution {spec_distribution!r} over its input_file)",
            hint=f"set it in agent.yaml:\n    load_test:\n      input_file: data/requests.jsonl\n"
                 f"      distribution: {self.input_distribution}\n  or pass input_distribution=\"realistic\"")


# -- an agent class instead of a spec path --------------------------------------------------------
def spec_for_agent(agent: Any) -> Path:
    """The agent.yaml whose `code.entrypoint` names `agent`'s class, searched upward from its file."""
    cls = agent if inspect.isclass(agent) else type(agent)
    name = cls.__qualname__
    how = ("pass the spec instead: Pipeline(\"path/to/agent.yaml\"), whose code.entrypoint is "
           f"\"<module>:{name}\"")
    try:
        source = Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):
        raise DeployerError(f"{name} is defined outside a file (a notebook cell or the interpreter), so its "
                            "agent.yaml cannot be found from it", hint=how) from None
    module = cls.__module__.rsplit(".", 1)[-1] if cls.__module__ != "__main__" else source.stem
    looked: list[str] = []
    for directory in [source.parent, *source.parents][:SEARCH_DEPTH]:
        for file_name in SPEC_NAMES:
            candidate = directory / file_name
            if not candidate.is_file():
                continue
            looked.append(str(candidate))
            entry = _entrypoint(candidate)
            if entry is not None and entry.split(":")[-1] == name and entry.split(":")[0].rsplit(".", 1)[-1] == module:
                return candidate
    where = f"; looked at {', '.join(looked)}" if looked else f" in {source.parent} or the {SEARCH_DEPTH - 1} above it"
    raise DeployerError(f"no agent.yaml names {module}:{name} in code.entrypoint{where}", hint=how)


def _entrypoint(spec: Path) -> str | None:
    """`code.entrypoint` of a spec file, or None when the file does not load."""
    from deployer.spec import load_spec

    try:
        return str(load_spec(spec).spec.code.entrypoint)
    except DeployerError:
        return None


def spec_path_of(spec: str | os.PathLike[str] | Any) -> Path:
    """A spec path as given, or the spec of an agent class or instance."""
    if isinstance(spec, (str, os.PathLike)):
        return Path(spec)
    return spec_for_agent(spec)


# -- policy keywords ------------------------------------------------------------------------------
def _yaml(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, item in value.items():
        if isinstance(item, Mapping):
            lines += [f"{pad}{key}:", *_yaml(item, indent + 2)]
        else:
            lines.append(f"{pad}{key}: {item}")
    return lines


def _policy_error(call: str, given: Mapping[str, Any], snippet: Mapping[str, Any], why: str,
                  then: str) -> DeployerError:
    args = ", ".join(f"{k}={v!r}" for k, v in given.items())
    text = "\n".join(_yaml(snippet, 4))
    return DeployerError(f"{call}({args}) would set policy, and policy lives in agent.yaml: {why}",
                         hint=f"set these keys in agent.yaml instead:\n{text}\n  then {then}")


def rollout_policy_error(given: Mapping[str, Any]) -> DeployerError:
    """`rollout(initial_traffic=5, increase_every=300, final_traffic=100, abort_if_error_rate=2)`."""
    initial = given.get("initial_traffic", 5)
    every = given.get("increase_every")
    rollout: dict[str, Any] = ({"strategy": "linear", "step_percent": initial, "interval": f"{every}s"} if every
                               else {"strategy": "canary", "initial_percent": initial, "bake": "5m"})
    if given.get("abort_if_error_rate") is not None:
        rollout["abort"] = {"error_rate_pct": given["abort_if_error_rate"]}
    if given.get("final_traffic", 100) != 100:
        rollout["# final_traffic"] = "every rollout ends at 100 %; roll back to stop short of it"
    return _policy_error("rollout", given, {"rollout": rollout},
                         "every deploy of the environment (CLI, CI or Python) follows the same rollout",
                         "`pipeline.deploy(env)` starts it and `pipeline.rollout(env)` shows its progress")


_ALERT_KINDS = {"on_error_rate_spike": ("error_rate_spike", "error_rate", "%"),
                "on_latency_spike": ("latency_spike", "latency", "ms (p99)"),
                "on_cost_spike": ("cost_spike", "cost_spike", "x the budgeted spend")}


def alerts_policy_error(given: Mapping[str, Any]) -> DeployerError:
    """`alerts(on_error_rate_spike={"threshold": 2, "window": 60, "action": "page_oncall"}, ...)`."""
    alerts: dict[str, Any] = {}
    for keyword, settings in given.items():
        name, kind, unit = _ALERT_KINDS.get(keyword, (keyword.removeprefix("on_"), "error_rate", ""))
        values = settings if isinstance(settings, Mapping) else {}
        alerts[name] = {"kind": kind, "threshold": f"{values.get('threshold', 2)}   # {unit}".rstrip("# "),
                        "window": f"{values.get('window', 60)}s", "action": values.get("action", "page_oncall")}
    return _policy_error("alerts", given, {"alerts": alerts, "notifications": {
        "page_oncall": {"type": "pagerduty", "routing_key": "ssm:/my-agent/pagerduty-key"}}},
        "the alarms are created with the stack (and in the emulator) and watch every version",
        "`pipeline.alerts(env)` lists what fired and who was notified")


_MONITOR = re.compile(r"^\s*(?P<metric>[a-z0-9_]+)\s*>\s*(?P<value>[0-9.]+)\s*(?P<unit>ms|%)?\s*$")


def monitor_policy_error(given: Mapping[str, Any]) -> DeployerError:
    """`monitor(metrics=[...], alerts={"latency_p99 > 2000ms": AlertLevel.WARNING, ...})`."""
    slos: dict[str, Any] = {}
    for condition in (given.get("alerts") or {}):
        match = _MONITOR.match(str(condition))
        if match is None:
            continue
        metric, value = match.group("metric"), match.group("value")
        if metric.startswith("latency_p"):
            slos[f"{metric}_ms"] = value
        elif metric == "error_rate":
            slos["error_rate_pct"] = value
        elif metric == "memory_usage":
            slos["memory_max_mb"] = f"{value}   # in MB: {value} % of memory_mb"
        elif metric == "cost_per_request":
            slos["cost_per_request_usd"] = value
    slos = slos or {"latency_p99_ms": 2000, "error_rate_pct": 1}
    return _policy_error("monitor", given, {"slos": slos},
                         "every request already reports latency, errors, memory, confidence and cost per version "
                         "(no metric list to set); the SLOs say what the load test and the checklist judge, and "
                         "`alerts:` what pages in production",
                         "`pipeline.run_load_test(env)` judges them")
