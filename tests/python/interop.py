"""A real non-Rust peer for the interop tests: confluent-kafka (librdkafka) and the CloudEvents
Python SDK.

  interop.py consume BOOTSTRAP TOPIC COUNT   print one JSON line per record, decoded
  interop.py produce BOOTSTRAP TOPIC         write a JSON record, a binary and a structured CloudEvent
"""
import json
import sys
import uuid

from cloudevents.http import CloudEvent
from cloudevents.kafka import KafkaMessage, from_binary, from_structured, to_binary, to_structured
from confluent_kafka import Consumer, Producer


def plain(o):
    """JSON for values the SDK hands back as bytes or datetimes."""
    return o.decode() if isinstance(o, (bytes, bytearray)) else str(o)


def header_map(msg):
    return {k: v for k, v in (msg.headers() or [])}


def consume(bootstrap, topic, count):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "py-" + uuid.uuid4().hex,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    })
    c.subscribe([topic])
    seen = 0
    while seen < count:
        msg = c.poll(30)
        if msg is None:
            raise SystemExit(f"timed out after {seen} of {count} records")
        if msg.error():
            raise SystemExit(str(msg.error()))
        headers = header_map(msg)
        km = KafkaMessage(headers=headers, key=msg.key(), value=msg.value())
        content_type = (headers.get("content-type") or b"").decode()
        if content_type.startswith("application/cloudevents+json"):
            ev = from_structured(km)
            kind = "ce-structured"
        elif "ce_specversion" in headers:
            ev = from_binary(km)
            kind = "ce-binary"
        else:
            print(json.dumps({"kind": "json", "key": msg.key().decode(), "value": json.loads(msg.value())}), flush=True)
            seen += 1
            continue
        data = ev.get_data()
        if isinstance(data, (bytes, bytearray)):
            data = json.loads(data)
        print(json.dumps({
            "kind": kind,
            "key": msg.key().decode() if msg.key() else None,
            "id": ev["id"], "type": ev["type"], "source": ev["source"],
            "time": ev.get("time"), "partitionkey": ev.get("partitionkey"),
            "data": data,
        }, default=plain), flush=True)
        seen += 1
    c.close()


def produce(bootstrap, topic):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    p.produce(topic, key=b"py-json", value=json.dumps({"order_id": "py-1", "amount_cents": 42}).encode(),
              headers={"content-type": b"application/json"})
    for mode, convert in (("binary", to_binary), ("structured", to_structured)):
        ev = CloudEvent({
            "type": "com.acme.order.created", "source": "/python", "id": f"py-{mode}",
            "partitionkey": f"py-{mode}-key", "datacontenttype": "application/json",
        }, {"order_id": f"py-{mode}", "amount_cents": 7})
        km = convert(ev)
        headers = dict(km.headers)
        if mode == "structured":
            # The Kafka protocol binding marks structured mode with this content type; the Python
            # SDK's to_structured writes the event's datacontenttype there instead.
            headers["content-type"] = b"application/cloudevents+json"
        p.produce(topic, key=km.key, value=km.value, headers=list(headers.items()))
    if p.flush(30) != 0:
        raise SystemExit("not all records delivered")


if __name__ == "__main__":
    mode, bootstrap, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "consume":
        consume(bootstrap, topic, int(sys.argv[4]))
    else:
        produce(bootstrap, topic)
