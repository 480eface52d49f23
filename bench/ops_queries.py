"""`deployer errors` and `deployer debug` at 50,000 request records, against a moto server.

Seeds the request log of the root agent.yaml's `staging` environment (the table as infra/ defines
it) in a moto server running in its own process, as the emulator runs it, with two published
versions (v1 stable, v2 a 10 % canary). Then times, medians of --runs:

- `errors`: `deployer.ops.requests.list_errors(target, limit=100)`, what `deployer errors` runs;
- `debug`: `deployer.ops.debug.what_changed(target)`, what `deployer debug` runs;
- the baseline, in the same run: one `Scan` page with `Limit=100` of the same table;
- for reference, the query `errors` made before it had a Limit (a filter, 1 MB pages).

`--cli` also times the two commands end to end (a new process each: start-up included);
`--without-version-index` seeds a second table without the `by_version` index (a stack deployed
before it, or the emulator's table until it creates the index) and times both there too.
Prints JSON. Targets (issue 16): errors <= 1 s, debug <= 3 s.

Run: .venv/bin/python bench/ops_queries.py [--records 50000] [--runs 5] [--cli] [--without-version-index]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ENV = "staging"

#: The moto server's process: serves HTTP, and seeds the table through moto's backend on request
#: (50,000 items over HTTP would take minutes and measure nothing of interest).
SERVER = r'''
import json, random, sys
from moto.server import ThreadedMotoServer
from moto.dynamodb.models import dynamodb_backends
from handlers.recorder import record_to_item

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
for line in sys.stdin:
    ask = json.loads(line)
    backend = dynamodb_backends[ask["account"]][ask["region"]]
    rng = random.Random(7)
    now, count = ask["now_ms"], ask["records"]
    step = ask["window_ms"] // count
    for i in range(count):
        canary = rng.random() < 0.1
        version = "2" if canary else "1"
        failed = rng.random() < (0.2 if canary else 0.02)
        line = {"event": "request", "request_id": f"req-{i:07d}", "ts": now - (count - i) * step, "action": "route",
                "version": version, "status": 500 if failed else 200, "outcome": "error" if failed else "ok",
                "latency_ms": round(rng.uniform(15, 250), 2), "input_tokens": 120, "output_tokens": 30,
                "cost_usd": 0.00002, "memory_mb": 130.0, "confidence": 0.91,
                "input": {"message": "I was charged twice for my card payment yesterday, please refund one " * 6},
                "output": None if failed else {"team": "cards", "intent": "card_payment_charged_twice",
                                               "confidence": 0.91, "escalate": False},
                "error_type": "ModelTimeout" if failed else None,
                "error_message": "the model did not answer within 2.0 s" if failed else None,
                "replay": rng.random() < 0.01, "cold_start": rng.random() < 0.002}
        for table in ask["tables"]:
            backend.put_item(table, record_to_item(line, 7))
    print("seeded", flush=True)
sys.stdin.read()
'''


def median_s(call: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def publish_versions(endpoint: Any, function: str, alias: str) -> None:
    iam = endpoint.client("iam")
    role = iam.create_role(RoleName="bench-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handlers/runtime.py", "def handler(event, context):\n    return event\n")
    lam = endpoint.client("lambda")
    lam.create_function(FunctionName=function, Runtime="python3.12", Role=role, Handler="handlers.runtime.handler",
                        Code={"ZipFile": code.getvalue()})
    for build in ("1", "2"):
        lam.update_function_configuration(FunctionName=function, Environment={"Variables": {"BUILD": build}})
        lam.publish_version(FunctionName=function)
    lam.create_alias(FunctionName=function, Name=alias, FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})


def old_errors_query(client: Any, table: str, since_ms: int) -> int:
    """The query `errors` made before: a filter and no Limit (every page a full 1 MB), until 100 were found."""
    kwargs: dict[str, Any] = {
        "TableName": table, "IndexName": "by_outcome", "ScanIndexForward": False,
        "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
        "FilterExpression": "(attribute_not_exists(#r) OR #r = :false)",
        "ExpressionAttributeNames": {"#pk": "outcome", "#sk": "ts", "#r": "replay"},
        "ExpressionAttributeValues": {":pk": {"S": "error"}, ":lo": {"N": str(since_ms)}, ":hi": {"N": str(2**53)},
                                      ":false": {"BOOL": False}}}
    found = 0
    while found < 100:
        page = client.query(**kwargs)
        found += len(page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return found


def cli_s(command: str, endpoint: str, runs: int) -> float:
    deployer = str(Path(sys.executable).parent / "deployer")
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    argv = [deployer, command, "--env", ENV, "--json"]
    subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True)  # warm-up: .pyc files
    return median_s(lambda: subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True), runs)[0]


def measure(target: Any, runs: int) -> dict[str, Any]:
    from deployer.ops.debug import what_changed
    from deployer.ops.requests import list_errors

    errors_s, failures = median_s(lambda: list_errors(target, limit=100), runs)
    debug_s, report = median_s(lambda: what_changed(target), runs)
    return {"errors_s": round(errors_s, 3), "errors_found": len(failures), "debug_s": round(debug_s, 3),
            "debug_compared": [report["current"]["version"], report["previous"]["version"]],
            "debug_requests_read": [report["current"]["requests"], report["previous"]["requests"]]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cli", action="store_true", help="also time the commands end to end")
    parser.add_argument("--without-version-index", action="store_true", help="also time a table without by_version")
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing"})
    os.environ.pop("AWS_PROFILE", None)

    from deployer.aws.dynamodb import create_request_table
    from deployer.environments import Project
    from deployer.ops.target import aws_target

    server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert server.stdout is not None and server.stdin is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        os.environ["AWS_ENDPOINT_URL"] = url
        model = Project(ROOT / "agent.yaml").model(ENV)
        target = aws_target(model)
        client = target.endpoint.client("dynamodb")
        tables = [model.request_log.table_name]
        create_request_table(client, tables[0])
        old_table = f"{tables[0]}-without-version-index"
        if args.without_version_index:
            tables.append(old_table)
            definition_client_args = {"TableName": old_table}
            from deployer.aws.dynamodb import request_table_definition

            old = request_table_definition(old_table)
            old["GlobalSecondaryIndexes"] = old["GlobalSecondaryIndexes"][:1]
            old["AttributeDefinitions"] = old["AttributeDefinitions"][:3]
            client.create_table(**{**old, **definition_client_args})
        publish_versions(target.endpoint, model.function.name, model.alias)
        now_ms = int(time.time() * 1000)
        started = time.perf_counter()
        server.stdin.write(json.dumps({"account": "123456789012", "region": model.region, "tables": tables,
                                       "records": args.records, "now_ms": now_ms, "window_ms": 20 * 3600 * 1000}) + "\n")
        server.stdin.flush()
        assert server.stdout.readline().strip() == "seeded"
        seed_s = time.perf_counter() - started

        baseline_s, _ = median_s(lambda: client.scan(TableName=tables[0], Limit=100), args.runs)
        out: dict[str, Any] = {"records": args.records, "runs": args.runs, "seed_s": round(seed_s, 1),
                               "moto": "moto server in its own process, table as infra/ defines it (both indexes)",
                               "baseline_scan_limit_100_s": round(baseline_s, 3)}
        out.update(measure(target, args.runs))
        out["errors_ratio_to_baseline"] = round(out["errors_s"] / baseline_s, 2)
        out["debug_ratio_to_baseline"] = round(out["debug_s"] / baseline_s, 2)
        old_s, _ = median_s(lambda: old_errors_query(client, tables[0], now_ms - 7 * 86_400_000), 1)
        out["errors_before_limit_s"] = round(old_s, 3)
        out["targets"] = {"errors_s": 1.0, "debug_s": 3.0}
        if args.cli:
            out["cli_errors_s"] = round(cli_s("errors", url, args.runs), 3)
            out["cli_debug_s"] = round(cli_s("debug", url, args.runs), 3)
            out["cli_note"] = "end to end: a new process, imports and start-up included"
        if args.without_version_index:
            import dataclasses

            old_target = dataclasses.replace(target, model=dataclasses.replace(
                model, request_log=dataclasses.replace(model.request_log, table_name=old_table)))
            out["without_version_index"] = measure(old_target, args.runs)
        print(json.dumps(out, indent=1))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
