"""`validate` on hostile input: it finishes in its usual time, never shows a traceback, accepts no nonsense.

Times are never absolute: each is compared with a baseline measured in the same test (the
flagship's validation, a YAML parse of the same bytes, a trivial regex scan of the same text).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from deployer.compiler import compile_all
from deployer.errors import DeployerError, SpecError
from deployer.spec import load_spec
from deployer.spec.backtracking import backtracking_risk
from deployer.spec.credentials import credential_in
from deployer.spec.loader import validate_document
from deployer.spec.source import parse_document
from handlers.redaction import BUILTIN_PATTERNS
from tests.helpers.cpu_time import best_cpu_s
from tests.unit.test_spec_fixtures import MINIMAL_SPEC

ROOT = Path(__file__).resolve().parents[2]
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def validate_text(text: str) -> None:
    """What `deployer validate --no-code` does with a file holding `text`; only `DeployerError` may escape."""
    compile_all(validate_document(parse_document(text.encode(), name="agent.yaml", path=ROOT / "agent.yaml")))


def with_rollout(rollout: str) -> str:
    return MINIMAL_SPEC + "rollout:\n" + rollout


LONG = 900_000  # under the 1 MB limit
NASTY = {
    "an infinite duration": MINIMAL_SPEC.replace("code:", "runtime: {timeout: .inf}\ncode:"),
    "an infinite bake": with_rollout("  strategy: canary\n  bake: .inf\n"),
    "a NaN threshold": MINIMAL_SPEC + "alerts:\n  e: {kind: error_rate, threshold: .nan, action: []}\n",
    "a huge duration": with_rollout("  strategy: canary\n  bake: 1.0e+308\n"),
    "a duration of a thousand digits": with_rollout(f"  strategy: canary\n  bake: '{'9' * 1000}s'\n"),
    "a number of five thousand digits": MINIMAL_SPEC.replace("code:", f"runtime: {{memory_mb: {'9' * 5000}}}\ncode:"),
    "a tiny linear step": with_rollout("  strategy: linear\n  step_percent: 0.0000001\n"),
    "a denormal linear step": with_rollout("  strategy: linear\n  step_percent: 5.0e-324\n"),
    "a very long description": MINIMAL_SPEC + f"description: {'a' * LONG}\n",
    "a description of URLs": MINIMAL_SPEC + f"description: {'http://' * (LONG // 7)}\n",
    "a description of password URLs": MINIMAL_SPEC + f"description: {'a://b:c' * (LONG // 7)}\n",
    "a description of key prefixes": MINIMAL_SPEC + f"description: {'sk-AKIA-----BEGIN ' * (LONG // 18)}\n",
    "a long redaction pattern": MINIMAL_SPEC + "monitoring:\n  redaction: [{name: p, pattern: '" + "(a|b)?" * 160 + "'}]\n",
    "a deeply nested pattern": MINIMAL_SPEC + "monitoring:\n  redaction: [{name: p, pattern: '" + "(" * 300 + "a" + ")" * 300 + "'}]\n",
    "a catastrophic pattern": MINIMAL_SPEC + "monitoring:\n  redaction: [{name: p, pattern: '(a+)+$'}]\n",
    "ten thousand rollout steps": with_rollout("  strategy: steps\n  steps:\n" + "    - {percent: 1, bake: 1m}\n" * 10_000),
    "ten thousand alerts": MINIMAL_SPEC + "alerts:\n" + "".join(
        f"  a{i}: {{kind: latency, threshold: 1, action: x}}\n" for i in range(10_000)),
    "merge keys everywhere": MINIMAL_SPEC + "alerts:\n  a0: &a {kind: latency, threshold: 1, action: []}\n" + "".join(
        f"  a{i}: {{<<: [*a, *a, *a], threshold: {i}}}\n" for i in range(1, 5000)),
    "a broken section and an override of it": MINIMAL_SPEC.replace("  staging: {}", "  staging: {rollout: {steps: 5}}")
    + "rollout: 7\n",
}


def test_validate_finishes_on_nasty_inputs_in_its_usual_time_without_a_traceback() -> None:
    flagship = (ROOT / "agent.yaml").read_text(encoding="utf-8")
    usual = best_cpu_s(3, lambda: validate_text(flagship))
    for name, text in NASTY.items():
        assert len(text.encode()) < 1_000_000, name
        parse = best_cpu_s(1, lambda text=text: yaml.compose(text, Loader=LOADER))  # type: ignore[misc]

        def run(text: str = text) -> None:
            try:
                validate_text(text)
            except DeployerError as exc:
                assert "Traceback" not in str(exc)

        took = best_cpu_s(1, run)
        assert took < 20 * (usual + parse) + 0.5, f"{name}: {took:.2f}s (usual {usual:.3f}s, parse {parse:.3f}s)"


@pytest.mark.parametrize("name", ["an infinite duration", "an infinite bake", "a NaN threshold", "a huge duration",
                                  "a tiny linear step", "a denormal linear step", "a catastrophic pattern",
                                  "a duration of a thousand digits", "a number of five thousand digits"])
def test_nonsense_numbers_and_patterns_are_refused_with_a_located_message(name: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate_text(NASTY[name])
    assert all(issue.line > 1 for issue in caught.value.issues), str(caught.value)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_a_file_without_an_end_is_read_only_up_to_the_limit() -> None:
    with pytest.raises(SpecError) as caught:
        load_spec("/dev/zero")
    assert "more than 1 MB" in str(caught.value) and "at most 1 MB" in str(caught.value)


# --- the credential scan is linear -------------------------------------------------------------------

CREDENTIAL_ADVERSARIES = ["a", "http://", "https://x?", "a://b:c", "a://b:", "://", "-----BEGIN A ", "sk-", "AKIA",
                          "xoxb-", "ghp_", "?token=", "a:b@"]


@pytest.mark.parametrize("unit", CREDENTIAL_ADVERSARIES)
def test_the_credential_scan_of_a_long_value_is_linear(unit: str) -> None:
    trivial = re.compile(r"[^\s\S]")
    for size in (16_000, LONG):
        text = unit * (size // len(unit))
        baseline = best_cpu_s(3, lambda text=text: trivial.search(text))  # type: ignore[misc]
        took = best_cpu_s(2, lambda text=text: credential_in(text))  # type: ignore[misc]
        assert took < 50 * baseline + 0.002, f"{unit!r} x {size:,}: {took / baseline:.0f}x"


@pytest.mark.parametrize(("text", "what"), [
    ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
    ("key sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c", "an API key (sk-...)"),
    ("https://hooks.slack.com/services/T0/B0/XXXX", "a Slack webhook URL with its token"),
    ("see https://alerts.example.com/x?a=1&token=9f8e7d6c5b4a", "a URL carrying a token"),
    ("postgres://admin:hunter22@db.internal/app", "a URL with a password"),
    ("-----BEGIN RSA PRIVATE KEY-----", "a private key"),
])
def test_the_credential_scan_finds_each_kind(text: str, what: str) -> None:
    assert credential_in(text) == what


def test_the_credential_scan_leaves_ordinary_text_alone() -> None:
    assert credential_in("Routes messages; see https://example.com/docs?page=2 and ssm:/a/b") is None


# --- redaction patterns that can backtrack catastrophically are refused -------------------------------

REFUSED = [r"(a+)+$", r"(a*)*b", r"(\w+\s?)*$", r"(.|\s)*x", r"\d+\d+x", r".*=.*x", r"\w+@corp\.com",
           r"(\w{1,10}){1,10}x", r"a[ab]+c", r"-?\d+\.", r"\d+\.?\d+x", r"(a?){30}a{30}", r"(?:a+)+",
           r"(?:\.\w+)*x"]
ACCEPTED = [r"TCK-\d+", r"\bTCK-\d{3,8}\b", r"password\s*=\s*\S+", r"(\d{1,3}\.){3}\d{1,3}",
            r"(?<![\w.])[\w.]+@corp\.com", r"\w{1,64}@corp\.com", r"\d+", r"[A-Z]{2}\d{6}", r"(cat|dog)+",
            r"\b\w+@corp\.com", r"sk-[A-Za-z0-9]{20,}", r"(?i)secret", r"^\w+:\s.*$"]


@pytest.mark.parametrize("pattern", REFUSED)
def test_a_pattern_that_can_backtrack_catastrophically_is_refused_with_the_reason(pattern: str) -> None:
    risk = backtracking_risk(pattern)
    assert risk and ("catastrophically" in risk or "slow on long input" in risk or "too much" in risk)


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_an_ordinary_pattern_is_accepted(pattern: str) -> None:
    assert backtracking_risk(pattern) is None


@pytest.mark.parametrize("builtin", sorted(BUILTIN_PATTERNS))
def test_every_builtin_passes_the_same_check(builtin: str) -> None:
    assert backtracking_risk(BUILTIN_PATTERNS[builtin]) is None


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_an_accepted_pattern_scans_adversarial_text_in_linear_time(pattern: str) -> None:
    """Eight times the text takes about eight times as long (a quadratic pattern: 64 times)."""
    regex = re.compile(pattern)
    for unit in ("a", "1", "a.", "a@", "ab", "x=", "1.", " a", "TCK-1"):
        short, long = (unit * (size // len(unit)) for size in (40_000, 320_000))
        small = best_cpu_s(3, lambda short=short: regex.sub("", short))  # type: ignore[misc]
        large = best_cpu_s(2, lambda long=long: regex.sub("", long))  # type: ignore[misc]
        assert large < 24 * small + 0.002, f"{pattern} on {unit!r}: {large / small:.0f}x for 8x the text"
