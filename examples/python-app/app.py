#!/usr/bin/env python3
"""A tiny Python service that uses Kafka only through its kafkadeps sidecar (standard library only).

    python app.py receive   # serve POST /kafka/{topic}: records pushed by the sidecar
    python app.py produce   # send records through the sidecar (acks=all before the 200)
    python app.py pull      # poll records from the sidecar, commit (or nack) them
    python app.py serve     # a service: produce at a rate, and forward every pushed record

Environment:
    KAFKA_SIDECAR_URL   the sidecar's data API (default http://127.0.0.1:4195; the injector sets it)
    APP_PORT            port `receive` listens on (default 8080, on 127.0.0.1)
    APP_RECEIVED        file to append one JSON line per received record (default: stdout)
    APP_FAULTS          `receive` answers these statuses for a key before a 200,
                        e.g. "order-5=500,500;order-9=400"; `pull` nacks the key instead
                        (429/5xx: retry later, other statuses: dead-letter now)
    APP_DELAY_MS        `receive` takes this long per record (default 0)

SIGTERM (as Kubernetes sends it; the app may run as PID 1) ends every mode cleanly: `produce`
and `serve` finish the request in flight, the server stops, exit 0.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
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


def call(method, path, body=None, timeout=35, headers=None):
    """One request to the sidecar; returns (status, parsed JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(SIDECAR + path, data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def produce(topic, count, batch, prefix):
    """Sends `count` records keyed `{prefix}-{i}`, retrying 503s and timeouts as the sidecar asks.

    Each batch carries an Idempotency-Key, so a retry after a timeout (when the app cannot know
    whether the batch was written) or a partial failure stores every record once.
    """
    sent = 0
    while sent < count and not STOP.is_set():
        n = min(batch, count - sent)
        records = [{"key": f"{prefix}-{sent + i}", "value": {"n": sent + i}} for i in range(n)]
        key = {"idempotency-key": str(uuid.uuid4())}
        while True:
            try:
                status, body = call("POST", f"/v1/topics/{topic}/records",
                                    {"records": records}, headers=key)
            except (TimeoutError, urllib.error.URLError):
                time.sleep(1)
                continue
            if status != 503:
                break
            time.sleep(1)
        if status != 200:
            sys.exit(f"produce failed: {status} {body}")
        sent += n
    print(json.dumps({"produced": sent, "topic": topic}), flush=True)


STOP = threading.Event()  # set by SIGTERM / SIGINT


def on_stop(server=None):
    """Installs the SIGTERM/SIGINT handler: STOP is set, `server` (if any) shuts down."""
    def handler(signum, frame):
        STOP.set()
        if server is not None:
            # shutdown() waits for serve_forever() to return: not from its own thread.
            threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def fail(message):
    """Ends the whole process (also from a worker thread)."""
    print(message, file=sys.stderr, flush=True)
    os._exit(1)


def parse_faults(text):
    faults = {}
    for rule in filter(None, (text or "").split(";")):
        key, _, statuses = rule.partition("=")
        faults[key.strip()] = [int(s) for s in statuses.split(",") if s.strip()]
    return faults


def receive(port, journal, faults, delay, forward=None):
    """Serves the sidecar's pushes: POST /kafka/{topic} with a record envelope.

    `forward(record)`, when given, runs for every record before it is answered: a 200 only once
    it returned True (else 503, and the sidecar retries the push).
    """
    lock = threading.Lock()
    active = [0]  # requests being handled right now (the journal's `concurrent`)
    unanswered = [0]  # requests read and not answered yet

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            with lock:
                unanswered[0] += 1
            try:
                self.push()
            finally:
                with lock:
                    unanswered[0] -= 1

        def push(self):
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
            if status == 200 and forward is not None and not forward(record):
                status = 503
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
    on_stop(server)
    print(json.dumps({"listening": port}), flush=True)
    server.serve_forever()
    # SIGTERM: answer the pushes being handled before exiting, so a record the app processed is
    # not left for the sidecar to deliver again. (Idle keep-alive connections are not waited for.)
    deadline = time.time() + 30
    while time.time() < deadline:
        with lock:
            if unanswered[0] == 0:
                break
        time.sleep(0.02)
    server.server_close()


def send_one(topic, record, key):
    """Sends one record under an Idempotency-Key; whether it was acknowledged."""
    try:
        status, _ = call("POST", f"/v1/topics/{topic}/records", {"records": [record]},
                         headers={"idempotency-key": key})
    except (TimeoutError, urllib.error.URLError, ConnectionError):
        return False
    return status == 200


def serve(topic, rate, done_topic, port, journal):
    """A service: sends `rate` records a second to `topic` (keys `py-<HOSTNAME>-<run>-<n>`, each
    retried under its Idempotency-Key until acknowledged) and forwards every record pushed to it
    to `done_topic` (`{"key", "sent_ms", "topic", "partition", "offset"}`) before answering 200.
    """
    prefix = f"py-{os.environ.get('HOSTNAME', 'app')}-{uuid.uuid4().hex[:6]}"

    def produce_loop():
        n = 0
        while not STOP.is_set():
            key = f"{prefix}-{n}"
            record = {"key": key, "value": {"n": n, "sent_ms": int(time.time() * 1000)}}
            while not STOP.is_set() and not send_one(topic, record, f"{key}@{topic}"):
                time.sleep(0.2)
            n += 1
            STOP.wait(1 / rate)

    def forward(record):
        value = record.get("value") or {}
        done = {"key": record.get("key"), "value": {
            "key": record.get("key"), "sent_ms": value.get("sent_ms") if isinstance(value, dict) else None,
            "topic": record["topic"], "partition": record["partition"], "offset": record["offset"]}}
        return send_one(done_topic, done, str(uuid.uuid4()))

    if rate > 0:
        threading.Thread(target=produce_loop, daemon=True).start()
    receive(port, journal, {}, 0, forward if done_topic else None)


def pull(group, journal, expect, max_records, faults, workers, abandon_every, exit_after):
    """Polls and commits until `expect` records were processed (forever when 0).

    Each poll answer's records are held under its `lease`: the commit (and any nack) names it,
    so a worker acknowledges only what it received itself. With `workers` > 1, that many threads
    poll the same sidecar at once (as gunicorn workers would). `abandon_every` K: every K-th
    batch of a worker is dropped unprocessed and uncommitted (a worker recycled); its records
    come back once their lease expires. `exit_after` N: the process dies (exit 3, no commit)
    after processing N records (an app container restarting mid-batch).
    """
    lock = threading.Lock()
    processed = [0]  # records processed (2xx) by all workers
    handled = [0]

    def done():
        with lock:
            return STOP.is_set() or (expect and processed[0] >= expect)

    def work():
        batches = 0
        while not done():
            status, body = call("POST", f"/v1/consumers/{group}/poll",
                                {"max_records": max_records, "timeout_ms": 1000})
            if status == 503:
                time.sleep(1)
                continue
            if status != 200:
                fail(f"poll failed: {status} {body}")
            if not body["records"]:
                continue
            batches += 1
            if abandon_every and batches % abandon_every == 0:
                continue  # recycled before it processed this batch: nothing is committed
            next_offsets, retry, dead = {}, [], []
            for r in body["records"]:
                with lock:
                    planned = faults.get(r.get("key"))
                    status = planned.pop(0) if planned else 200
                    if status == 200:
                        handled[0] += 1
                        if exit_after and handled[0] > exit_after:
                            os._exit(3)  # dies mid-batch: nothing of this batch is committed
                journal.write({"topic": r["topic"], "partition": r["partition"],
                               "offset": r["offset"], "key": r.get("key"), "status": status})
                coordinates = {"topic": r["topic"], "partition": r["partition"],
                               "offset": r["offset"]}
                if status == 200:
                    tp = (r["topic"], r["partition"])
                    next_offsets[tp] = max(next_offsets.get(tp, 0), r["offset"] + 1)
                elif status == 429 or status >= 500:
                    retry.append(coordinates)
                else:
                    dead.append(coordinates)
            for action, records in (("retry", retry), ("dead_letter", dead)):
                if records:
                    status, answer = call("POST", f"/v1/consumers/{group}/nack",
                                          {"lease": body["lease"], "records": records,
                                           "action": action, "reason": f"app answered {action}"})
                    if status != 200:
                        fail(f"nack failed: {status} {answer}")
            if next_offsets:
                offsets = [{"topic": t, "partition": p, "offset": o}
                           for (t, p), o in next_offsets.items()]
                status, answer = call("POST", f"/v1/consumers/{group}/commit",
                                      {"lease": body["lease"], "offsets": offsets})
                if status == 409:
                    continue  # the lease expired: these records are handed out again
                if status != 200:
                    fail(f"commit failed: {status} {answer}")
                with lock:
                    processed[0] += answer["acknowledged"]

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"pulled": processed[0]}), flush=True)


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
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--abandon-every", type=int, default=0)
    p.add_argument("--exit-after", type=int, default=0)
    p = sub.add_parser("serve")
    p.add_argument("--topic", required=True)
    p.add_argument("--rate", type=float, default=10)
    p.add_argument("--done-topic")
    args = parser.parse_args()
    journal = Journal(os.environ.get("APP_RECEIVED"))
    if args.command == "produce":
        on_stop()
        produce(args.topic, args.count, args.batch, args.key_prefix)
    elif args.command == "serve":
        serve(args.topic, args.rate, args.done_topic, int(os.environ.get("APP_PORT", "8080")),
              journal)
    elif args.command == "receive":
        receive(int(os.environ.get("APP_PORT", "8080")), journal,
                parse_faults(os.environ.get("APP_FAULTS")),
                int(os.environ.get("APP_DELAY_MS", "0")) / 1000)
    else:
        on_stop()
        pull(args.group, journal, args.expect, args.max_records,
             parse_faults(os.environ.get("APP_FAULTS")), args.workers, args.abandon_every,
             args.exit_after)


if __name__ == "__main__":
    main()
