// Validates KafkaTopic objects (a JSON array on stdin) against Strimzi's CRD schemas, as compiled by
// @kubernetes-models/strimzi-kafka-operator. Prints one JSON line; exits 1 on any invalid object.
import { KafkaTopic as V1 } from "@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1/KafkaTopic";
import { KafkaTopic as V1beta2 } from "@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/KafkaTopic";

const models = { "kafka.strimzi.io/v1": V1, "kafka.strimzi.io/v1beta2": V1beta2 };
let input = "";
for await (const chunk of process.stdin) input += chunk;
const errors = [];
let valid = 0;
for (const doc of JSON.parse(input)) {
  const Model = models[doc.apiVersion];
  if (!Model) {
    errors.push(`${doc.metadata?.name}: no Strimzi schema for ${doc.apiVersion}`);
    continue;
  }
  try {
    new Model(doc).validate();
    valid++;
  } catch (e) {
    errors.push(`${doc.metadata?.name}: ${e.message}`);
  }
}
console.log(JSON.stringify({ valid, errors }));
process.exit(errors.length ? 1 : 0);
