"""A real non-Rust peer for the interop tests: confluent-kafka (librdkafka) and the CloudEvents
Python SDK.

  interop.py consume BOOTSTRAP TOPIC COUNT   print one JSON line per record, decoded
  interop.py consume-key BOOTSTRAP TOPIC KEY print the first record with KEY, decoded
  interop.py produce BOOTSTRAP TOPIC         write a JSON record, a binary and a structured CloudEvent
  interop.py avro-produce BOOTSTRAP TOPIC REGISTRY COUNT   write Avro orders (schema v1) through
                                                           confluent-kafka's AvroSerializer
  interop.py avro-consume BOOTSTRAP TOPIC REGISTRY COUNT   decode Avro with AvroDeserializer
"""
import json
import sys
import uuid

from cloudevents.http import CloudEvent
from cloudevents.kafka import KafkaMessage, from_binary, from_structured, to_binary, to_structured
from confluent_kafka import Consumer, Producer


def records(bootstrap, topic, count, until_key=None):
    """Yields `count` records of `topic` read from the beginning by a new group (read_committed),
    only those with `until_key` when given; fails after 30 s without a record."""
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
        if until_key is not None and (msg.key() or b"").decode() != until_key:
            continue
        seen += 1
        yield msg
    c.close()


def plain(o):
    """JSON for values the SDK hands back as bytes or datetimes."""
    return o.decode() if isinstance(o, (bytes, bytearray)) else str(o)


def header_map(msg):
    return {k: v for k, v in (msg.headers() or [])}


def consume(bootstrap, topic, count, until_key=None):
    for msg in records(bootstrap, topic, count, until_key):
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


ORDER_V1 = json.dumps({
    "type": "record", "name": "Order", "namespace": "com.acme",
    "fields": [{"name": "order_id", "type": "string"}, {"name": "amount_cents", "type": "long"}],
})


def avro_produce(bootstrap, topic, registry, count):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    serializer = AvroSerializer(SchemaRegistryClient({"url": registry}), ORDER_V1)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(count):
        value = serializer({"order_id": f"py-avro-{i}", "amount_cents": 100 + i},
                           SerializationContext(topic, MessageField.VALUE))
        p.produce(topic, key=f"py-avro-{i}".encode(), value=value)
    if p.flush(30) != 0:
        raise SystemExit("not all records delivered")


def avro_consume(bootstrap, topic, registry, count):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry}))
    for msg in records(bootstrap, topic, count):
        value = deserializer(msg.value(), SerializationContext(topic, MessageField.VALUE))
        schema_id = int.from_bytes(msg.value()[1:5], "big")
        print(json.dumps({"magic": msg.value()[0], "schema_id": schema_id, "value": value}), flush=True)


if __name__ == "__main__":
    mode, bootstrap, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "consume":
        consume(bootstrap, topic, int(sys.argv[4]))
    elif mode == "consume-key":
        consume(bootstrap, topic, 1, until_key=sys.argv[4])
    elif mode == "produce":
        produce(bootstrap, topic)
    elif mode == "avro-produce":
        avro_produce(bootstrap, topic, sys.argv[4], int(sys.argv[5]))
    elif mode == "avro-consume":
        avro_consume(bootstrap, topic, sys.argv[4], int(sys.argv[5]))
    else:
        raise SystemExit(f"unknown mode {mode}")
