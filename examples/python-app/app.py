#!/usr/bin/env python3
"""A tiny Python service that uses Kafka only through its kafkadeps sidecar (standard library only).

    python app.py receive   # serve POST /kafka/{topic}: records pushed by the sidecar
    python app.py produce   # send records through the sidecar (acks=all before the 200)
    python app.py pull      # poll records from the sidecar and commit them

Environment:
    KAFKA_SIDECAR_URL   the sidecar's data API (default http://127.0.0.1:4195; the injector sets it)
    APP_PORT            port `receive` listens on (default 8080, on 127.0.0.1)
    APP_RECEIVED        file to append one JSON line per received record (default: stdout)
    APP_FAULTS          `receive` answers these statuses for a key before a 200,
                        e.g. "order-5=500,500;order-9=400"
    APP_DELAY_MS        `receive` takes this long per record (default 0)
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIDECAR = os.environ.get("KAFKA_SIDECAR_URL", "http://127.0.0.1:4195").rstrip("/")


class Journal:
    """Appends one JSON line per received record, from any thread."""

    def __init__(self, path):
        self._lock = threading.Lock()
        self._out = open(path, "a", buffering=1) if path else sys.stdout

    def write(self, entry):
        line = json.dumps(entry, separators=(",", ":"))
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()


def call(method, path, body=None, timeout=35):
    """One request to the sidecar; returns (status, parsed JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(SIDECAR + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def produce(topic, count, batch, prefix):
    """Sends `count` records keyed `{prefix}-{i}`, retrying 503s as the sidecar asks."""
    sent = 0
    while sent < count:
        n = min(batch, count - sent)
        records = [{"key": f"{prefix}-{sent + i}", "value": {"n": sent + i}} for i in range(n)]
        status, body = call("POST", f"/v1/topics/{topic}/records", {"records": records})
        if status == 503:
            time.sleep(1)
            continue
        if status != 200:
            sys.exit(f"produce failed: {status} {body}")
        sent += n
    print(json.dumps({"produced": sent, "topic": topic}), flush=True)


def parse_faults(text):
    faults = {}
    for rule in filter(None, (text or "").split(";")):
        key, _, statuses = rule.partition("=")
        faults[key.strip()] = [int(s) for s in statuses.split(",") if s.strip()]
    return faults


def receive(port, journal, faults, delay):
    """Serves the sidecar's pushes: POST /kafka/{topic} with a record envelope."""
    lock = threading.Lock()
    active = [0]  # requests being handled right now

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            if self.headers.get("content-type", "").startswith("application/cloudevents+json"):
                # A CloudEvent (structured mode); Kafka coordinates travel in headers.
                record = {"topic": self.headers["kafka-topic"],
                          "partition": int(self.headers["kafka-partition"]),
                          "offset": int(self.headers["kafka-offset"]),
                          "key": body.get("partitionkey") or body["id"], "event": body}
            else:
                record = body
            key = record.get("key")
            with lock:
                active[0] += 1
                concurrent = active[0]
            if delay:
                time.sleep(delay)
            with lock:
                active[0] -= 1
                planned = faults.get(key)
                status = planned.pop(0) if planned else 200
            entry = {"topic": record["topic"], "partition": record["partition"],
                     "offset": record["offset"], "key": key, "status": status,
                     "concurrent": concurrent}
            if "event" in record:
                entry["event"] = record["event"]
            if self.headers.get("traceparent"):
                # The W3C trace context the sidecar passes on.
                entry["traceparent"] = self.headers["traceparent"]
            journal.write(entry)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            # A sidecar that restarts drops its connections; that is not an app error.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", port), Handler)
    print(json.dumps({"listening": port}), flush=True)
    server.serve_forever()


def pull(group, journal, expect, max_records):
    """Polls and commits until `expect` records arrived (forever when 0)."""
    received = 0
    while expect == 0 or received < expect:
        status, body = call("POST", f"/v1/consumers/{group}/poll",
                            {"max_records": max_records, "timeout_ms": 1000})
        if status == 503:
            time.sleep(1)
            continue
        if status != 200:
            sys.exit(f"poll failed: {status} {body}")
        next_offsets = {}
        for r in body["records"]:
            journal.write({"topic": r["topic"], "partition": r["partition"],
                           "offset": r["offset"], "key": r.get("key"), "status": 200})
            tp = (r["topic"], r["partition"])
            next_offsets[tp] = max(next_offsets.get(tp, 0), r["offset"] + 1)
        received += len(body["records"])
        if next_offsets:
            offsets = [{"topic": t, "partition": p, "offset": o}
                       for (t, p), o in next_offsets.items()]
            status, body = call("POST", f"/v1/consumers/{group}/commit", {"offsets": offsets})
            if status != 200:
                sys.exit(f"commit failed: {status} {body}")
    print(json.dumps({"pulled": received}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("produce")
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--key-prefix", default="order")
    sub.add_parser("receive")
    p = sub.add_parser("pull")
    p.add_argument("--group", required=True)
    p.add_argument("--expect", type=int, default=0)
    p.add_argument("--max-records", type=int, default=100)
    args = parser.parse_args()
    journal = Journal(os.environ.get("APP_RECEIVED"))
    if args.command == "produce":
        produce(args.topic, args.count, args.batch, args.key_prefix)
    elif args.command == "receive":
        receive(int(os.environ.get("APP_PORT", "8080")), journal,
                parse_faults(os.environ.get("APP_FAULTS")),
                int(os.environ.get("APP_DELAY_MS", "0")) / 1000)
    else:
        pull(args.group, journal, args.expect, args.max_records)


if __name__ == "__main__":
    main()
