"""What a locust master and its workers say to each other (no locust import; both sides load it).

A worker has no plan of its own: the master ships it. Locust forwards the master's custom
``parsed_options`` to every worker inside each spawn message, before the worker creates a user,
so the master puts the whole plan there (`plan_payload`): the generator settings, the input
bodies and weights, a hash of the generator's code and a plan id. The worker checks the code hash
(`check_payload`) and refuses to run a plan its own code would generate differently. It sends
its records back over the same connection (`RECORDS_MESSAGE`), and its CPU accounting when it has
sent its share (`DONE_MESSAGE`). Nothing secret travels: a worker that signs requests (SigV4)
uses its own host's AWS credentials.

A worker started by `deployer loadtest --worker` also writes a small status file
(`STATUS_ENV`) so that its supervisor knows when it joined a phase, which phase, and whether
another one follows.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deployer.loadtest.inputs import InputSet
from deployer.loadtest.records import GeneratorSettings

#: The key of the plan in the master's parsed options (forwarded to workers with every spawn).
PLAN_OPTION = "deployer_plan"
RECORDS_MESSAGE = "deployer_records"
DONE_MESSAGE = "deployer_done"
REFUSED_MESSAGE = "deployer_refused"
#: Set by `deployer loadtest --worker` for each locust worker process it starts.
STATUS_ENV = "DEPLOYER_LOADTEST_STATUS"
#: The master writes who joined here (in its results directory), for the deployer to read.
WORKERS_FILE = "workers.json"
#: Input files shipped to workers are held in memory by the master and sent to each worker.
MAX_SHIPPED_INPUT_BYTES = 32 * 1024 * 1024
PROTOCOL = 1
_CODE_FILES = ("locustfile.py", "distributed.py", "records.py", "pacing.py", "inputs.py", "signing.py")


def generator_code_hash() -> str:
    """sha256 of the generator's source files: two hosts with the same hash generate the same way."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in _CODE_FILES:
        digest.update(name.encode())
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def plan_payload(settings: GeneratorSettings, inputs: InputSet) -> dict[str, Any]:
    settings_data = asdict(settings)
    plan_id = hashlib.sha256(json.dumps(settings_data, sort_keys=True).encode()
                             + b"".join(inputs.bodies)).hexdigest()[:12]
    return {"protocol": PROTOCOL, "code": generator_code_hash(), "plan_id": plan_id, "settings": settings_data,
            "bodies": list(inputs.bodies), "weights": list(inputs.weights)}


@dataclass(frozen=True)
class ShippedPlan:
    plan_id: str
    settings: GeneratorSettings
    inputs: InputSet


class PlanRefused(Exception):
    """The worker cannot run the master's plan (the reason is sent back to the master)."""


def check_payload(payload: Any) -> ShippedPlan:
    """The plan a worker received, or `PlanRefused` saying why it must not run it."""
    if not isinstance(payload, dict) or payload.get("protocol") != PROTOCOL:
        raise PlanRefused("the master sent no deployer plan (is it `deployer loadtest --master`, "
                          "of the same deployer version?)")
    mine = generator_code_hash()
    if payload.get("code") != mine:
        raise PlanRefused(f"this worker's load generator code ({mine}) differs from the master's "
                          f"({payload.get('code')}): install the same deployer version on every host")
    bodies = tuple(bytes(b) for b in payload["bodies"])
    inputs = InputSet(path="(shipped by the master)", bodies=bodies, weights=tuple(float(w) for w in payload["weights"]))
    return ShippedPlan(plan_id=str(payload["plan_id"]), settings=GeneratorSettings(**payload["settings"]),
                       inputs=inputs)


def write_status(**fields: Any) -> None:
    """For the worker's supervisor: joined / done / refused, with the phase (no-op elsewhere)."""
    path = os.environ.get(STATUS_ENV)
    if not path:
        return
    target = Path(path)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(fields), encoding="utf-8")
    temporary.replace(target)


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
