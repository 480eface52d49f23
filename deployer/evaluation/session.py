"""`deployer eval`'s library call: one evaluation of a deployed version against the stable one."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployer.errors import DeployerError
from deployer.evaluation.report import write_report
from deployer.evaluation.runner import Checkpoint, Example, Verdict, answer_all, judge, load_examples

if TYPE_CHECKING:
    from deployer.ops.replay import Invoker
    from deployer.ops.target import OpsTarget


@dataclass(frozen=True)
class EvaluationResult:
    verdict: Verdict
    candidate: str
    stable: str | None
    report_json: Path
    report_html: Path
    examples: int
    resumed: int  # answers taken from an earlier, interrupted run
    requests_per_s: float


def evaluate(target: OpsTarget, *, version: str | None = None, against: str | None = "stable",
             report_dir: Path, concurrency: int | None = None, limit: int | None = None,
             progress: Callable[[int, int], None] | None = None, invoker: Invoker | None = None) -> EvaluationResult:
    """Run the spec's evaluation set through `version` (default: the canary if one is live, else the
    alias's version) and through the stable version, score both, and apply the gate."""
    import time

    from deployer.ops.replay import alias_routing, choose_version, invoker_for

    model = target.model
    if model.evaluation is None:
        raise DeployerError(f"{model.spec_file}: no evaluation section",
                            hint="add evaluation: {data: ..., score: {kind: label, field: ...}} (README: evaluation)")
    spec = model.evaluation
    primary, additional = alias_routing(target)
    candidate = version or (max(additional.items(), key=lambda kv: kv[1])[0] if additional else None) \
        or choose_version(target)
    stable = None if against is None else (choose_version(target) if against == "stable" else str(against))
    examples, data_hash = load_examples(spec.data_file, limit=limit or spec.limit)
    checkpoint = Checkpoint(report_dir / "evaluation-answers.jsonl", data_hash)
    versions = [candidate] + ([stable] if stable and stable != candidate else [])
    # A checkpoint's answers are resumed only for the same code and configuration: a version number
    # comes back with other code after an emulator restart, or in another account.
    identity = version_identities(target, versions)
    keys = [identity[v] for v in versions]
    done = checkpoint.scores if spec.judge is not None else checkpoint.answers
    resumed = sum(1 for k in keys for e in examples if (k, e.index) in done)
    call = invoker or invoker_for(target)
    by_key = dict(zip(keys, versions, strict=True))

    def ask(example: Example, key: str) -> tuple[int, Any]:
        result = call(spec.action, example.input, version=by_key[key], replay=True)
        return result.status, result.output

    grade = None
    if spec.judge is not None:
        from deployer.evaluation.judge import grader_for

        grader = grader_for(spec.judge)

        def grade(example: Example, status: int, output: Any) -> float:
            return grader(example.input, example.expected, status, output)

    started = time.perf_counter()
    answer_all(examples, keys, ask, checkpoint, concurrency=concurrency or spec.concurrency, progress=progress,
               grade=grade)
    asked = sum(len(examples) for _ in versions) - resumed
    rate = asked / max(time.perf_counter() - started, 1e-6)
    answers = {(by_key[k], i): a for (k, i), a in checkpoint.answers.items() if k in by_key}
    scores = {(by_key[k], i): g for (k, i), g in checkpoint.scores.items() if k in by_key}
    verdict = judge(examples, spec, answers, candidate, stable if stable != candidate else None, scores)
    meta = {"agent": model.agent, "environment": model.environment, "data": spec.data_file, "data_hash": data_hash,
            "examples": len(examples), "candidate_version": candidate, "stable_version": stable, "score": spec.score_kind,
            "field": spec.score_field, "requests_per_s": round(rate, 1), "serving": {"primary": primary,
                                                                                      "additional": additional}}
    json_path, html_path = write_report(verdict, report_dir, meta=meta)
    return EvaluationResult(verdict, candidate, stable, json_path, html_path, len(examples), resumed, rate)


def version_identities(target: OpsTarget, versions: list[str]) -> dict[str, str]:
    """`version -> "3:<code sha>:<configuration hash>"`: what the checkpoint keys answers by."""
    import hashlib

    found = {str(v.get("Version")): v for v in target.functions.versions(target.model.function.name)}
    out: dict[str, str] = {}
    for version in versions:
        config = found.get(version)
        if config is None:
            raise DeployerError(f"{target.model.function.name} has no version {version}",
                                hint=f"versions: {', '.join(found) or 'none'} (`deployer status`)")
        settings = json.dumps({"env": (config.get("Environment") or {}).get("Variables") or {},
                               "memory": config.get("MemorySize"), "handler": config.get("Handler")}, sort_keys=True)
        out[version] = (f"{version}:{str(config.get('CodeSha256') or '')[:16]}:"
                        f"{hashlib.sha256(settings.encode()).hexdigest()[:12]}")
    return out
