"""Running the agent: the same bundle Lambda runs, behind a stand-in for its Function URL.

- `release`: what a deploy publishes (the bundle, built for a Python this machine has; the
  configuration hash; injected faults).
- `gateway`: the Function URL stand-in: picks a version by the alias weights, takes one of its
  execution environments, maps the handler's result to HTTP as a Function URL does, and records
  the failures it makes itself (`failures`).
- `http11`: the gateway's HTTP/1.1 (parsed by h11) with its limits and timeouts.
- `workers`: each version's execution environments, one per concurrent request (start, hand out,
  throttle, discard, stop).
- `worker`: one environment's process. It is run by path (``python worker.py``) on the function's
  Python and imports nothing from `deployer`: keep it that way.
- `loopback`, `processes`: the emulator's servers on 127.0.0.1, its children and their sockets.
- `testkit`: a stand-in bundle whose actions echo at once, for tests and benchmarks.
"""
