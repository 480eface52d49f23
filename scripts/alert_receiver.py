"""A loopback stand-in for PagerDuty and Slack: prints each alert it receives, keeps them as JSON lines.

The local environment's notifications point at http://127.0.0.1:9999 (agent.yaml); run this to see
the real HTTP calls the emulator makes when an alarm fires:

    .venv/bin/python scripts/alert_receiver.py --port 9999 --out .deployer/alerts.jsonl --max-seconds 600
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def describe(path: str, body: Any) -> str:
    if isinstance(body, dict) and "event_action" in body:  # PagerDuty Events v2
        payload = body.get("payload") or {}
        return (f"PAGE {body['event_action']:<8} [{payload.get('severity', '-')}] {payload.get('summary', '')}"
                f"  (dedup {body.get('dedup_key', '-')})")
    if isinstance(body, dict) and "text" in body:  # Slack incoming webhook
        return f"CHAT {body['text']}"
    return f"POST {path}: {json.dumps(body)[:200]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--out", type=Path, default=Path(".deployer/alerts.jsonl"))
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop on its own after this long")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body: Any = json.loads(raw or b"null")
            except ValueError:
                body = raw.decode(errors="replace")
            with lock, args.out.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"at": time.time(), "path": self.path, "body": body}) + "\n")
            print(f"  alert received: {describe(self.path, body)}", flush=True)
            self.send_response(202)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"status": "success"}')

        def log_message(self, format: str, *values: Any) -> None:  # quiet: one line per alert above
            return

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    stop = threading.Timer(args.max_seconds, server.shutdown)
    stop.daemon = True  # Ctrl-C must not wait for it
    stop.start()
    print(f"alert receiver on http://127.0.0.1:{args.port} (writing {args.out})", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
