"""Credentials written into agent.yaml: every string value is scanned, in linear time.

Each pattern can start only at a fixed prefix (`AKIA`, `sk-`, `://`, ...) that its own repetition
cannot continue, and its repetitions are bounded or end the match, so a long value (a 900 KB
description) is scanned once. URLs are judged per whitespace-separated word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from deployer.errors import Issue
from deployer.spec.source import PathKey, SourceMap
from deployer.spec.types import SECRET_REF_HINT

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"(?<![0-9A-Za-z_])(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z_])")),
    ("an API key (sk-...)", re.compile(r"(?<![0-9A-Za-z_])sk-[A-Za-z0-9_\-]{20}")),
    ("a Slack token", re.compile(r"(?<![0-9A-Za-z_])xox[abposr]-[A-Za-z0-9-]{10}")),
    ("a Slack webhook URL with its token", re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/\S")),
    ("a GitHub token", re.compile(r"(?<![0-9A-Za-z_])gh[pousr]_[A-Za-z0-9]{30}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----")),
)
#: A scheme, `://`, then `user:password@`; neither part may hold `/`, so each attempt stops at the next `/`.
_PASSWORD_URL = re.compile(r"(?i)(?<=[a-z0-9+.-])://[^/\s:@]{1,256}:[^/\s@]{1,256}@")
_URL_START = re.compile(r"(?i)https?://")
_TOKEN_PARAM = re.compile(r"(?i)[?&](?:token|key|api_key|apikey|secret|sig|signature|access_token|code)=[^&\s]{6}")


def credential_in(text: str) -> str | None:
    """What kind of credential `text` holds (for the message), or None."""
    for what, pattern in _PATTERNS:
        if pattern.search(text):
            return what
    if "://" in text:
        if _PASSWORD_URL.search(text):
            return "a URL with a password"
        for word in text.split():
            start = _URL_START.search(word)
            if start and _TOKEN_PARAM.search(word, start.end()):
                return "a URL carrying a token"
    return None


def scan_for_credentials(data: Any, source: SourceMap, path: PathKey = ()) -> Iterator[Issue]:
    """Yield an issue for every string value that looks like a credential or tokened URL."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from scan_for_credentials(value, source, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from scan_for_credentials(value, source, (*path, index))
    elif isinstance(data, str):
        what = credential_in(data)
        if what:
            yield source.issue(path, f"looks like {what}; secrets never go in agent.yaml: {SECRET_REF_HINT}")
