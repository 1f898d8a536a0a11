// Validates Strimzi objects (KafkaTopic, KafkaUser; a JSON array on stdin) against Strimzi's CRD
// schemas, as compiled by @kubernetes-models/strimzi-kafka-operator. Prints one JSON line; exits 1
// on any invalid object.
import { KafkaTopic as TopicV1 } from "@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1/KafkaTopic";
import { KafkaTopic as TopicV1beta2 } from "@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/KafkaTopic";
import { KafkaUser as UserV1 } from "@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1/KafkaUser";
import { KafkaUser as UserV1beta2 } from "@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/KafkaUser";

const models = {
  "KafkaTopic kafka.strimzi.io/v1": TopicV1,
  "KafkaTopic kafka.strimzi.io/v1beta2": TopicV1beta2,
  "KafkaUser kafka.strimzi.io/v1": UserV1,
  "KafkaUser kafka.strimzi.io/v1beta2": UserV1beta2,
};
let input = "";
for await (const chunk of process.stdin) input += chunk;
const errors = [];
let valid = 0;
for (const doc of JSON.parse(input)) {
  const Model = models[`${doc.kind} ${doc.apiVersion}`];
  if (!Model) {
    errors.push(`${doc.metadata?.name}: no Strimzi schema for ${doc.kind} ${doc.apiVersion}`);
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
