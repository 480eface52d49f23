"""Running the agent: the same bundle Lambda runs, behind a stand-in for its Function URL.

- `release`: what a deploy publishes (the bundle, built for a Python this machine has; the
  configuration hash; injected faults).
- `gateway`: the Function URL stand-in: picks a version by the alias weights and maps the
  handler's result to HTTP, as a Function URL does.
- `workers`: the gateway's side of one process per version (start, reach, replace, stop).
- `worker`: that process. It is run by path (``python worker.py``) on the function's Python and
  imports nothing from `deployer`: keep it that way.
- `loopback`, `processes`: the emulator's servers on 127.0.0.1 and the ending of its children.
- `testkit`: a stand-in bundle whose actions echo at once, for tests and benchmarks.
"""
