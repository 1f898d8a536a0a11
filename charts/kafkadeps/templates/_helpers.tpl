{{/*
Names and labels, after Bitnami's `common` chart: names truncated to 63 characters, the standard
app.kubernetes.io/* labels. Every template takes a dict with "context" (the root context `$`) and,
where it applies, "kafka" (the values block; default: .Values.kafka of the context).
*/}}

{{/* The values block of a call: "kafka" of the dict, else .Values.kafka of the context. */}}
{{- define "kafkadeps.block" -}}
{{- toJson (.kafka | default (.context.Values.kafka | default dict)) -}}
{{- end -}}

{{/* The release-qualified name of the service, truncated to 63 characters. */}}
{{- define "kafkadeps.names.fullname" -}}
{{- $ctx := .context -}}
{{- if $ctx.Values.fullnameOverride -}}
{{- $ctx.Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default $ctx.Chart.Name $ctx.Values.nameOverride -}}
{{- if contains $name $ctx.Release.Name -}}
{{- $ctx.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" $ctx.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Standard labels. */}}
{{- define "kafkadeps.labels.standard" -}}
app.kubernetes.io/name: {{ default .context.Chart.Name .context.Values.nameOverride | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .context.Release.Name | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .context.Chart.Name .context.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* A scalar as text: integral numbers without exponent (YAML numbers arrive as float64). */}}
{{- define "kafkadeps.scalar" -}}
{{- if kindIs "float64" . -}}
{{- if eq (float64 (int64 .)) . -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* A setting's value in the declaration grammar: quoted when it holds `,` `)` `(` or `=`. */}}
{{- define "kafkadeps.settingValue" -}}
{{- $v := include "kafkadeps.scalar" . -}}
{{- if regexMatch "[,()=\"' ]" $v -}}
{{- printf "\"%s\"" $v -}}
{{- else -}}
{{- $v -}}
{{- end -}}
{{- end -}}

{{/*
Validates one topic entry ({name, partitions, replicas, config}); `fail`s with the documented
message. Call with (dict "topic" $t "where" "kafka.produces[0]").
*/}}
{{- define "kafkadeps.validateTopic" -}}
{{- $t := .topic -}}
{{- if not (kindIs "map" $t) -}}
{{- fail (printf "kafkadeps: %s must be a map with a `name`" .where) -}}
{{- end -}}
{{- $name := toString ($t.name | default "") -}}
{{- if or (not (regexMatch "^[a-zA-Z0-9._-]{1,249}$" $name)) (eq $name ".") (eq $name "..") -}}
{{- fail (printf "kafkadeps: %s: topic name %q is invalid: use 1-249 characters of a-z A-Z 0-9 . _ - (not . or ..)" .where $name) -}}
{{- end -}}
{{- if hasKey $t "partitions" -}}
{{- $p := $t.partitions -}}
{{- if or (not (or (kindIs "float64" $p) (kindIs "int" $p) (kindIs "int64" $p))) (lt (float64 $p) 1.0) (gt (float64 $p) 100000.0) -}}
{{- fail (printf "kafkadeps: %s: topic %q: partitions must be 1..100000 (got %v)" .where $name $p) -}}
{{- end -}}
{{- end -}}
{{- if hasKey $t "replicas" -}}
{{- $r := $t.replicas -}}
{{- if or (not (or (kindIs "float64" $r) (kindIs "int" $r) (kindIs "int64" $r))) (lt (float64 $r) 1.0) (gt (float64 $r) 32767.0) -}}
{{- fail (printf "kafkadeps: %s: topic %q: replicas must be 1..32767 (got %v)" .where $name $r) -}}
{{- end -}}
{{- end -}}
{{- range $k, $v := ($t.config | default dict) -}}
{{- if not (regexMatch "^[a-z][a-z0-9.]*$" $k) -}}
{{- fail (printf "kafkadeps: %s: topic %q: config key %q is not a Kafka topic config name" $.where $name $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* One topic in the declaration grammar: `name(partitions=12, replicas=3, retention.ms=604800000)`,
with `owned` and `min.partitions=N` for consumed topics. */}}
{{- define "kafkadeps.declaration" -}}
{{- $settings := list -}}
{{- if .owned -}}{{- $settings = append $settings "owned" -}}{{- end -}}
{{- if hasKey . "minPartitions" -}}{{- $settings = append $settings (printf "min.partitions=%s" (include "kafkadeps.scalar" .minPartitions)) -}}{{- end -}}
{{- if hasKey . "partitions" -}}{{- $settings = append $settings (printf "partitions=%s" (include "kafkadeps.scalar" .partitions)) -}}{{- end -}}
{{- if hasKey . "replicas" -}}{{- $settings = append $settings (printf "replicas=%s" (include "kafkadeps.scalar" .replicas)) -}}{{- end -}}
{{- range $k, $v := (.config | default dict) -}}
{{- $settings = append $settings (printf "%s=%s" $k (include "kafkadeps.settingValue" $v)) -}}
{{- end -}}
{{- if $settings -}}
{{- printf "%s(%s)" .name (join ", " $settings) -}}
{{- else -}}
{{- .name -}}
{{- end -}}
{{- end -}}

{{/* A list of topics as a declaration list; validates each. (dict "topics" $list "where" "kafka.produces") */}}
{{- define "kafkadeps.declarationList" -}}
{{- $out := list -}}
{{- range $i, $t := .topics -}}
{{- $where := printf "%s[%d]" $.where $i -}}
{{- include "kafkadeps.validateTopic" (dict "topic" $t "where" $where) -}}
{{- include "kafkadeps.validateOwnership" (dict "topic" $t "where" $where "consumed" (eq $.where "kafka.consumes")) -}}
{{- $out = append $out (include "kafkadeps.declaration" $t) -}}
{{- end -}}
{{- join ", " $out -}}
{{- end -}}

{{/*
Ownership: a topic only consumed is a dependency — its partitions and replicas are its owner's;
it may require minPartitions, or be marked owned. minPartitions and owned belong to consumed
topics. (dict "topic" $t "where" "kafka.consumes[0]" "consumed" true)
*/}}
{{- define "kafkadeps.validateOwnership" -}}
{{- $t := .topic -}}
{{- if .consumed -}}
{{- if and (not $t.owned) (or (hasKey $t "partitions") (hasKey $t "replicas")) -}}
{{- fail (printf "kafkadeps: %s: topic %q is only consumed, so its partitions and replicas are its owner's: require at least N partitions with minPartitions: N, or set owned: true if this service alone uses it" .where $t.name) -}}
{{- end -}}
{{- if and $t.owned (hasKey $t "minPartitions") -}}
{{- fail (printf "kafkadeps: %s: topic %q: minPartitions is a requirement of a topic the service does not own; an owned topic declares partitions" .where $t.name) -}}
{{- end -}}
{{- else if or (hasKey $t "minPartitions") (hasKey $t "owned") -}}
{{- fail (printf "kafkadeps: %s: topic %q: minPartitions and owned belong to consumed topics; a produced topic is the service's own" .where $t.name) -}}
{{- end -}}
{{- end -}}

{{/*
A topic config value in the canonical form Kafka and Strimzi accept: `*.ms` durations with a unit
(500ms 30s 15m 12h 7d) as milliseconds, `*.bytes` sizes with a unit (KiB MiB GiB TiB) as bytes,
numbers and booleans as they are. (dict "key" "retention.ms" "value" "7d")
*/}}
{{- define "kafkadeps.canonicalValue" -}}
{{- $v := include "kafkadeps.scalar" .value -}}
{{- $m := regexFindAll "^(-?[0-9]+)\\s*([a-zA-Z]+)$" $v 1 -}}
{{- if and $m (hasSuffix ".ms" .key) -}}
{{- $n := int64 (regexReplaceAll "^(-?[0-9]+)\\s*([a-zA-Z]+)$" $v "${1}") -}}
{{- $unit := regexReplaceAll "^(-?[0-9]+)\\s*([a-zA-Z]+)$" $v "${2}" -}}
{{- $per := get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000) $unit -}}
{{- if not $per -}}{{- fail (printf "kafkadeps: topic config %s=%q: the unit %q is not ms, s, m, h or d" .key $v $unit) -}}{{- end -}}
{{- mul $n (int64 $per) -}}
{{- else if and $m (hasSuffix ".bytes" .key) -}}
{{- $n := int64 (regexReplaceAll "^(-?[0-9]+)\\s*([a-zA-Z]+)$" $v "${1}") -}}
{{- $unit := regexReplaceAll "^(-?[0-9]+)\\s*([a-zA-Z]+)$" $v "${2}" -}}
{{- $per := get (dict "B" 1 "KiB" 1024 "MiB" 1048576 "GiB" 1073741824 "TiB" 1099511627776) $unit -}}
{{- if not $per -}}{{- fail (printf "kafkadeps: topic config %s=%q: the unit %q is not B, KiB, MiB, GiB or TiB" .key $v $unit) -}}{{- end -}}
{{- mul $n (int64 $per) -}}
{{- else -}}
{{- $v -}}
{{- end -}}
{{- end -}}

{{/* Validates the whole values block. */}}
{{- define "kafkadeps.validate" -}}
{{- $k := . -}}
{{- if not $k.bootstrapServers -}}
{{- fail "kafkadeps: kafka.bootstrapServers is required (host:port[,host:port...])" -}}
{{- end -}}
{{- $policy := $k.topicPolicy | default "create" -}}
{{- if not (has $policy (list "create" "reconcile" "verify")) -}}
{{- fail (printf "kafkadeps: kafka.topicPolicy %q is not one of create, reconcile, verify" $policy) -}}
{{- end -}}
{{- if and $k.topicReplicas (not (has $k.topicReplicas (list "strict" "clamp"))) -}}
{{- fail (printf "kafkadeps: kafka.topicReplicas %q is not one of strict, clamp" $k.topicReplicas) -}}
{{- end -}}
{{- if and $k.durability (not (has $k.durability (list "strict" "relaxed"))) -}}
{{- fail (printf "kafkadeps: kafka.durability %q is not one of strict, relaxed" $k.durability) -}}
{{- end -}}
{{- if not (or $k.produces $k.consumes $k.topic) -}}
{{- fail "kafkadeps: declare at least one topic in kafka.produces, kafka.consumes or kafka.topic" -}}
{{- end -}}
{{- end -}}

{{/* The Kubernetes object name of a topic: DNS-1123 (lowercase, `_` → `-`), hashed when changed. */}}
{{- define "kafkadeps.topicResourceName" -}}
{{- $dns := . | lower | replace "_" "-" | trimAll ".-" -}}
{{- if eq $dns . -}}
{{- . | trunc 253 -}}
{{- else -}}
{{- printf "%s-%s" ($dns | trunc 200 | trimSuffix "-" | trimSuffix ".") (sha256sum . | trunc 8) -}}
{{- end -}}
{{- end -}}
