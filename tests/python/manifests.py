"""Rendered Kubernetes manifests for the chart tests: schema validation and JSON conversion.

    python manifests.py validate FILE   # every standard object against the Kubernetes schemas
                                        # (kubernetes-validate, strict); prints a JSON summary
    python manifests.py json FILE       # all objects as one JSON array
    python manifests.py crd CRD FILE    # the objects of the CRD's kind against its served
                                        # versions' openAPIV3Schema; prints a JSON summary
"""

import json
import sys

import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.34.0"
# Custom resources: KafkaTopic and KafkaUser are checked against Strimzi's schema by tests/node;
# cert-manager's are not in the Kubernetes schemas.
CUSTOM_KINDS = {"KafkaTopic", "KafkaUser", "Certificate", "Issuer", "ScaledObject"}


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def validate_crd(crd_path, path):
    import jsonschema

    (crd,) = load(crd_path)
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    schemas = {
        f"{group}/{v['name']}": v["schema"]["openAPIV3Schema"]
        for v in crd["spec"]["versions"]
        if v.get("served")
    }
    validated, errors = [], []
    for d in load(path):
        if d.get("kind") != kind:
            continue
        schema = schemas.get(d.get("apiVersion"))
        if schema is None:
            errors.append(f"{kind}: apiVersion {d.get('apiVersion')} is not served by the CRD")
            continue
        for e in jsonschema.Draft7Validator(schema).iter_errors(d):
            errors.append(f"{kind} {d['metadata'].get('name')}: {e.message} at {list(e.path)}")
        validated.append(d["metadata"].get("name"))
    print(json.dumps({"validated": validated, "errors": errors}))
    sys.exit(1 if errors or not validated else 0)


def main():
    if sys.argv[1] == "crd":
        validate_crd(sys.argv[2], sys.argv[3])
        return
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
