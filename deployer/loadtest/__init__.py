"""`deployer loadtest`: the staging stage's load test and SLO gate.

The last step of ``load -> compile -> loadtest``: it reads a `DeploymentModel`, never the YAML.

- `plan` resolves the load profile of one environment plus command-line overrides into a
  `LoadPlan` (pure, no I/O beyond checking that the input file exists).
- `runner` starts locust in its own processes (never imported here: gevent and boto3 do not mix
  in one process), holds a constant request rate, and tails the per-request results file the
  generator writes (`locustfile`), so percentiles are exact, not locust's rounded buckets.
- `distributed` is what a master and its workers say to each other: the master ships the plan
  (settings and input bodies) to every worker, the workers send their records back; `worker` is
  `deployer loadtest --worker`, which lends another host's generator to a master.
- `gate` judges the results against the SLOs and the brief's pre-production checklist (pure).
- `report` writes ``report.json`` (every figure) and ``report.html`` (plots from `plots`).
"""

from __future__ import annotations
