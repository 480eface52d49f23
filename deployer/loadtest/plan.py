"""Resolve what a load test will do: the environment's load profile, then command-line overrides.

Precedence is flag -> spec (`DeploymentModel.load`) -> default, one field at a time. Every
problem with the result is a `LoadTestUsageError` (the command turns it into exit code 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.loadtest.distributed import MAX_SHIPPED_INPUT_BYTES

#: Bounds that keep every run finite and this machine alive.
MAX_DURATION_S = 24 * 3600
MAX_RPS = 100_000
MAX_USERS = 50_000
MAX_WORKERS = 64
MAX_CONCURRENCY = 50_000
#: Every request is kept for exact percentiles: rps x duration is bounded (about 1 GB of memory).
MAX_REQUESTS = 2_000_000
#: Each concurrency level is held this long (or the run's duration, when shorter).
SWEEP_LEVEL_S = 5.0
#: Throughput passes when the achieved rate is at least this share of the asked one.
THROUGHPUT_TOLERANCE = 0.95
#: locust's own default port for workers to reach their master.
DEFAULT_MASTER_PORT = 5557
#: How long a master waits for its workers, per phase (local workers: they start on this host).
DEFAULT_JOIN_TIMEOUT_S = 120.0
LOCAL_JOIN_TIMEOUT_S = 30.0
MAX_JOIN_TIMEOUT_S = 3600.0

_FUNCTION_URL = re.compile(r"^[a-z0-9]+\.lambda-url\.(?P<region>[a-z0-9-]+)\.on\.aws$")


class LoadTestUsageError(DeployerError):
    """The load test was asked for something it cannot do (a usage error, exit code 2)."""


@dataclass(frozen=True)
class Overrides:
    """Command-line values; None means "take it from the spec"."""

    rps: float | None = None
    duration_s: float | None = None
    users: int | None = None
    input_file: str | None = None
    workers: int | None = None
    concurrency: tuple[int, ...] | None = None
    target_url: str | None = None
    report_dir: str | None = None
    sign: str = "auto"  # "auto": SigV4 for Function URLs with IAM auth; "always"; "never"
    seed: int = 1
    master: MasterSetup | None = None  # run only a master; workers on other hosts join it


@dataclass(frozen=True)
class MasterSetup:
    """`--master`: the workers are `deployer loadtest --worker` processes on other hosts."""

    expect_workers: int
    bind_host: str = "*"
    port: int = DEFAULT_MASTER_PORT
    join_timeout_s: float = DEFAULT_JOIN_TIMEOUT_S


@dataclass(frozen=True)
class LoadPlan:
    model: DeploymentModel
    target_url: str  # base URL; requests go to POST {target_url}/{action}
    action: str
    rps: float
    duration_s: float
    users: int
    workers: int
    input_file: str
    distribution: str
    weight_field: str | None
    concurrency: tuple[int, ...]
    sweep_level_s: float
    request_timeout_s: float
    report_dir: str
    sigv4_region: str | None
    seed: int
    sources: dict[str, str] = field(default_factory=dict)  # field -> "flag" | "spec" | "default"
    master: MasterSetup | None = None  # workers on other hosts join this run's master

    @property
    def expected_requests(self) -> int:
        return round(self.rps * self.duration_s)


def parse_concurrency(text: str) -> tuple[int, ...]:
    """``"100,1000"`` -> (100, 1000), sorted and unique."""
    levels: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) <= 0:
            raise LoadTestUsageError(f"--concurrency: {part!r} is not a positive whole number",
                                     hint="for example --concurrency 100,1000")
        levels.add(int(part))
    return tuple(sorted(levels))


def function_url_region(url: str) -> str | None:
    """The region of a Lambda Function URL (``https://<id>.lambda-url.<region>.on.aws``)."""
    match = _FUNCTION_URL.match(urlparse(url).hostname or "")
    return match.group("region") if match else None


def resolve_plan(model: DeploymentModel, overrides: Overrides, *, target_url: str | None = None,
                 iam_auth: bool | None = None) -> LoadPlan:
    """Merge the model's load profile with overrides and check the result.

    `target_url` is where the agent answers when `overrides.target_url` is not given (the
    emulator's gateway, or the deployed Function URL); `iam_auth` says whether that URL needs
    SigV4 (None: unknown, decided from the host name).
    """
    load = model.load
    flags = {"rps": overrides.rps, "duration_s": overrides.duration_s, "users": overrides.users,
             "input_file": overrides.input_file, "concurrency": overrides.concurrency,
             "workers": overrides.workers, "target_url": overrides.target_url}
    sources = {name: "flag" if value is not None else "spec" for name, value in flags.items()}
    sources["workers"] = "flag" if overrides.workers is not None or overrides.master else "default"
    sources["target_url"] = "flag" if overrides.target_url else "environment"
    rps = float(overrides.rps if overrides.rps is not None else load.rps)
    duration_s = float(overrides.duration_s if overrides.duration_s is not None else load.duration_s)
    users = overrides.users if overrides.users is not None else load.users
    master = overrides.master
    workers = master.expect_workers if master else overrides.workers if overrides.workers is not None else 1
    input_file = overrides.input_file if overrides.input_file is not None else load.input_file
    concurrency = overrides.concurrency if overrides.concurrency is not None else load.concurrency
    url = overrides.target_url or target_url

    problems: list[str] = []
    if not 0 < rps <= MAX_RPS:
        problems.append(f"--rps must be between 0 and {MAX_RPS}, got {rps:g}")
    if not 0 < duration_s <= MAX_DURATION_S:
        problems.append(f"--duration must be between 1s and 24h, got {duration_s:g}s")
    if rps > 0 and duration_s > 0 and rps * duration_s > MAX_REQUESTS:
        problems.append(f"--rps x --duration is {rps * duration_s:,.0f} requests; at most {MAX_REQUESTS:,} are "
                        "recorded exactly: shorten the run or lower the rate")
    if not 1 <= users <= MAX_USERS:
        problems.append(f"--users must be between 1 and {MAX_USERS}, got {users}")
    flag = "--expect-workers" if master else "--workers"
    if master and overrides.workers is not None:
        problems.append("--workers starts workers on this host; with --master the workers are "
                        "`deployer loadtest --worker` processes that join it: drop --workers")
    if not 1 <= workers <= MAX_WORKERS:
        problems.append(f"{flag} must be between 1 and {MAX_WORKERS}, got {workers}")
    elif users < workers:
        problems.append(f"--users ({users}) must be at least {flag} ({workers}): each worker runs users")
    if master and not 1 <= master.port <= 65535:
        problems.append(f"--master-port must be between 1 and 65535, got {master.port}")
    if master and not 1 <= master.join_timeout_s <= MAX_JOIN_TIMEOUT_S:
        problems.append(f"--join-timeout must be between 1s and 1h, got {master.join_timeout_s:g}s")
    if any(level > MAX_CONCURRENCY for level in concurrency):
        problems.append(f"--concurrency levels must be at most {MAX_CONCURRENCY}")
    if model.action(load.action) is None:
        known = ", ".join(a.name for a in model.actions) or "none"
        problems.append(f"load_test.action {load.action!r} is not an action of {model.agent} (known: {known})")
    if input_file is None:
        problems.append("no input file: pass --input FILE (JSON lines, one action input per line) "
                        "or set load_test.input_file in the spec")
    elif not Path(input_file).is_file():
        problems.append(f"input file {input_file} does not exist")
    elif (workers > 1 or master) and Path(input_file).stat().st_size > MAX_SHIPPED_INPUT_BYTES:
        problems.append(f"input file {input_file} is {Path(input_file).stat().st_size / 2**20:,.0f} MB; the master "
                        f"sends it to every worker, at most {MAX_SHIPPED_INPUT_BYTES // 2**20} MB: use a sample of it")
    if not url:
        problems.append("no target: pass --target URL (the emulator's gateway or a Function URL)")
    elif urlparse(url).scheme not in ("http", "https") or not urlparse(url).hostname:
        problems.append(f"--target {url!r} is not an http(s) URL")
    if overrides.sign not in ("auto", "always", "never"):
        problems.append(f"--sign must be auto, always or never, got {overrides.sign!r}")
    if problems:
        raise LoadTestUsageError("\n".join(problems))
    assert url is not None and input_file is not None

    region = function_url_region(url)
    if overrides.sign == "always":
        sigv4_region: str | None = region or model.region
    elif overrides.sign == "auto" and region is not None and iam_auth is not False:
        sigv4_region = region
    else:
        sigv4_region = None

    action = model.action(load.action)
    assert action is not None
    report_dir = overrides.report_dir or str(Path("reports") / f"loadtest-{model.agent}-{model.environment}")
    return LoadPlan(
        model=model,
        target_url=url.rstrip("/"),
        action=load.action,
        rps=rps,
        duration_s=duration_s,
        users=users,
        workers=workers,
        input_file=str(Path(input_file).resolve()),
        distribution=load.distribution,
        weight_field=load.weight_field,
        concurrency=tuple(concurrency),
        sweep_level_s=min(SWEEP_LEVEL_S, duration_s),
        request_timeout_s=max(1.0, action.timeout_s + 1.0),
        report_dir=report_dir,
        sigv4_region=sigv4_region,
        seed=overrides.seed,
        sources=sources,
        master=master,
    )


def with_target(plan: LoadPlan, url: str) -> LoadPlan:
    return replace(plan, target_url=url.rstrip("/"))


def plan_warnings(plan: LoadPlan) -> list[str]:
    """What the plan allows but probably does not mean (the command prints these)."""
    warnings: list[str] = []
    host = urlparse(plan.target_url).hostname or ""
    if plan.master and (host in ("localhost", "::1") or host.startswith("127.")):
        warnings.append(f"the target {plan.target_url} is a loopback address: workers on other hosts send to "
                        "their own loopback, not to this host (pass --target with an address they can reach)")
    if plan.master and plan.master.bind_host in ("*", "0.0.0.0"):
        warnings.append(f"the master listens on every interface, port {plan.master.port}; a worker needs no "
                        "password, and whoever joins receives the inputs: open the port only to the worker hosts "
                        "(or pass --master-bind-host with a private address)")
    return warnings
