{{/*
kafkadeps.topics — Strimzi KafkaTopic resources for every topic the service owns (produced ones,
the single `topic`, consumed ones marked `owned: true`, and each consumed topic's `<topic>.dlq`),
with the settings the SDK would ensure: its durable defaults, then kafka.topicDefaults, then the
topic's own, config values in Kafka's canonical form (`7d` is 604800000). A topic only consumed is
its owner's resource: no KafkaTopic here; the service waits for it to exist (with
`topicPolicy: verify`, readiness stays false until it does). For clusters where the Topic
Operator owns topics; run the service with `topicPolicy: verify` then.

  {{ include "kafkadeps.topics" (dict "context" $) }}

Needs kafka.strimzi.cluster (the `strimzi.io/cluster` label); kafka.strimzi.apiVersion is
kafka.strimzi.io/v1beta2 (default) or kafka.strimzi.io/v1.
*/}}
{{- define "kafkadeps.topics" -}}
{{- $k := include "kafkadeps.block" . | fromJson -}}
{{- include "kafkadeps.validate" $k -}}
{{- $ctx := .context -}}
{{- $s := $k.strimzi | default dict -}}
{{- if not $s.cluster -}}
{{- fail "kafkadeps: kafka.strimzi.cluster is required to render KafkaTopic resources (their strimzi.io/cluster label)" -}}
{{- end -}}
{{- $api := $s.apiVersion | default "kafka.strimzi.io/v1beta2" -}}
{{- if not (has $api (list "kafka.strimzi.io/v1beta2" "kafka.strimzi.io/v1")) -}}
{{- fail (printf "kafkadeps: kafka.strimzi.apiVersion %q is not kafka.strimzi.io/v1beta2 or kafka.strimzi.io/v1" $api) -}}
{{- end -}}
{{- /* Collect topics by name; the first declaration of a name wins (the SDK merges equal ones). */ -}}
{{- $topics := dict -}}
{{- $order := list -}}
{{- range $i, $t := ($k.produces | default list) -}}
{{- include "kafkadeps.validateTopic" (dict "topic" $t "where" (printf "kafka.produces[%d]" $i)) -}}
{{- if not (hasKey $topics $t.name) -}}{{- $_ := set $topics $t.name $t -}}{{- $order = append $order $t.name -}}{{- end -}}
{{- end -}}
{{- $consumed := list -}}
{{- $dependencies := dict -}}
{{- range $i, $t := ($k.consumes | default list) -}}
{{- $where := printf "kafka.consumes[%d]" $i -}}
{{- include "kafkadeps.validateTopic" (dict "topic" $t "where" $where) -}}
{{- include "kafkadeps.validateOwnership" (dict "topic" $t "where" $where "consumed" true) -}}
{{- if and $t.owned (not (hasKey $topics $t.name)) -}}{{- $_ := set $topics $t.name (omit $t "owned") -}}{{- $order = append $order $t.name -}}{{- end -}}
{{- if not $t.owned -}}{{- $_ := set $dependencies $t.name $t -}}{{- end -}}
{{- $consumed = append $consumed $t.name -}}
{{- end -}}
{{- with $k.topic -}}
{{- if not (hasKey $topics .) -}}{{- $_ := set $topics . (dict "name" .) -}}{{- $order = append $order . -}}{{- end -}}
{{- $consumed = append $consumed . -}}
{{- end -}}
{{- $defaults := $k.topicDefaults | default dict -}}
{{- range $name := $consumed -}}
{{- $dlq := printf "%s.dlq" $name -}}
{{- if not (hasKey $topics $dlq) -}}
{{- if hasKey $topics $name -}}
{{- /* An owned topic's dead-letter topic has its settings. */ -}}
{{- $_ := set $topics $dlq (merge (dict "name" $dlq) (omit (get $topics $name) "name")) -}}
{{- else -}}
{{- /* A dependency's: the defaults, its required config, at least its required partitions. */ -}}
{{- $d := get $dependencies $name | default dict -}}
{{- $spec := dict "name" $dlq "config" ($d.config | default dict) -}}
{{- with $d.minPartitions -}}{{- $_ := set $spec "partitions" (max (int64 .) (int64 (coalesce $defaults.partitions 3))) -}}{{- end -}}
{{- $_ := set $topics $dlq $spec -}}
{{- end -}}
{{- $order = append $order $dlq -}}
{{- end -}}
{{- end -}}
{{- range $name := $order -}}
{{- $t := get $topics $name -}}
{{- $config := merge (deepCopy ($t.config | default dict)) (deepCopy ($defaults.config | default dict)) (dict "min.insync.replicas" 2 "unclean.leader.election.enable" false) -}}
{{- $resource := include "kafkadeps.topicResourceName" $name }}
---
apiVersion: {{ $api }}
kind: KafkaTopic
metadata:
  name: {{ $resource }}
  {{- with $s.namespace }}
  namespace: {{ . }}
  {{- end }}
  labels:
    strimzi.io/cluster: {{ $s.cluster | quote }}
    {{- include "kafkadeps.labels.standard" (dict "context" $ctx) | nindent 4 }}
spec:
  {{- if ne $resource $name }}
  topicName: {{ $name | quote }}
  {{- end }}
  partitions: {{ include "kafkadeps.scalar" (coalesce $t.partitions $defaults.partitions 3) }}
  replicas: {{ include "kafkadeps.scalar" (coalesce $t.replicas $defaults.replicas 3) }}
  config:
    {{- range $key, $value := $config }}
    {{- $canonical := include "kafkadeps.canonicalValue" (dict "key" $key "value" $value) }}
    {{ $key }}: {{ if regexMatch "^-?[0-9]+$" $canonical }}{{ $canonical }}{{ else if kindIs "bool" $value }}{{ $value }}{{ else }}{{ $canonical | quote }}{{ end }}
    {{- end }}
{{- end }}
{{- end -}}
