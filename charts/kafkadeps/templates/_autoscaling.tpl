{{/*
kafkadeps.scaledObject — a KEDA ScaledObject that scales the service's Deployment on its consumer
group's lag in seconds, `max(kafkadeps_group_lag_seconds{group=...})` from Prometheus — the metric
`kafkadeps-sidecar observe` exports from outside the pods, so it exists while the deployment is
scaled to zero. Lag in seconds means the same for every record rate: a record-count threshold
(KEDA's Kafka scaler) is 10 s of work at 1,000 records/s and 10 minutes at 10 records/s.

  {{ include "kafkadeps.scaledObject" (dict "context" $) }}

kafka.autoscaling: enabled, prometheusAddress (required), lagSeconds (the target per replica,
default 10), minReplicas (default 0: scale to zero), maxReplicas (required; capped at the
smallest partition count known of the consumed topics, `partitions` or `minPartitions`: more
members than partitions stay idle), pollingInterval (default 30 s), cooldownPeriod (default
300 s). Renders nothing unless enabled.
*/}}
{{- define "kafkadeps.scaledObject" -}}
{{- $k := include "kafkadeps.block" . | fromJson -}}
{{- $a := $k.autoscaling | default dict -}}
{{- if $a.enabled -}}
{{- include "kafkadeps.validate" $k -}}
{{- $ctx := .context -}}
{{- if not $k.consumes -}}
{{- fail "kafkadeps: kafka.autoscaling scales a consumer on its lag: declare kafka.consumes" -}}
{{- end -}}
{{- if not $a.prometheusAddress -}}
{{- fail "kafkadeps: kafka.autoscaling.prometheusAddress is required (the Prometheus that scrapes kafkadeps-sidecar observe)" -}}
{{- end -}}
{{- $max := int ($a.maxReplicas | default 0) -}}
{{- if lt $max 1 -}}
{{- fail "kafkadeps: kafka.autoscaling.maxReplicas is required (at most the consumed topics' partition count)" -}}
{{- end -}}
{{- range $k.consumes -}}
{{- $p := int (.partitions | default .minPartitions | default 0) -}}
{{- if and (gt $p 0) (lt $p $max) -}}{{- $max = $p -}}{{- end -}}
{{- end -}}
{{- $min := int (hasKey $a "minReplicas" | ternary $a.minReplicas 0) -}}
{{- if gt $min $max -}}
{{- fail (printf "kafkadeps: kafka.autoscaling.minReplicas %d is above maxReplicas %d (capped at the partition count)" $min $max) -}}
{{- end -}}
{{- $group := $k.group | default $k.app | default (include "kafkadeps.names.fullname" .) -}}
{{- $name := include "kafkadeps.names.fullname" . -}}
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ $name }}
  labels:
    {{- include "kafkadeps.labels.standard" . | nindent 4 }}
spec:
  scaleTargetRef:
    name: {{ $name }}
  minReplicaCount: {{ $min }}
  maxReplicaCount: {{ $max }}
  pollingInterval: {{ int ($a.pollingInterval | default 30) }}
  cooldownPeriod: {{ int ($a.cooldownPeriod | default 300) }}
  triggers:
    - type: prometheus
      metadata:
        serverAddress: {{ $a.prometheusAddress | quote }}
        query: {{ printf "max(kafkadeps_group_lag_seconds{group=%q})" $group | quote }}
        threshold: {{ printf "%v" ($a.lagSeconds | default 10) | quote }}
        activationThreshold: "0"
{{- end -}}
{{- end -}}
