"""Rendered Kubernetes manifests for the chart tests: schema validation and JSON conversion.

    python manifests.py validate FILE   # every standard object against the Kubernetes schemas
                                        # (kubernetes-validate, strict); prints a JSON summary
    python manifests.py json FILE       # all objects as one JSON array
"""

import json
import sys

import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.34.0"
# Custom resources: KafkaTopic and KafkaUser are checked against Strimzi's schema by tests/node;
# cert-manager's are not in the Kubernetes schemas.
CUSTOM_KINDS = {"KafkaTopic", "KafkaUser", "Certificate", "Issuer"}


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def main():
    command, path = sys.argv[1], sys.argv[2]
    docs = load(path)
    if command == "json":
        json.dump(docs, sys.stdout)
        return
    validated, skipped, errors = [], [], []
    for d in docs:
        kind = d.get("kind")
        if kind in CUSTOM_KINDS:
            skipped.append(kind)
            continue
        try:
            kubernetes_validate.validate(d, KUBERNETES_VERSION, strict=True)
            validated.append(kind)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{kind} {d.get('metadata', {}).get('name')}: {e.message} at {list(e.path)}")
    print(json.dumps({"validated": validated, "skipped": skipped, "errors": errors}))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
