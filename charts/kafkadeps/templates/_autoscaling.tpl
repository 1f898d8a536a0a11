{{/*
Autoscaling a consumer on its group's lag in seconds, `kafkadeps_group_lag_seconds{group=...}` —
the metric `kafkadeps-sidecar observe` exports from outside the pods, so it exists while the
deployment is scaled to zero. Lag in seconds means the same for every record rate: a record-count
threshold (KEDA's Kafka scaler) is 10 s of work at 1,000 records/s and 10 minutes at 10 records/s.

  {{ include "kafkadeps.scaledObject" (dict "context" $) }}               (autoscaler: keda)
  {{ include "kafkadeps.horizontalPodAutoscaler" (dict "context" $) }}    (autoscaler: hpa)

A chart may include both: `kafka.autoscaling.autoscaler` picks the one that renders.

kafka.autoscaling: enabled, autoscaler (keda, the default, or hpa), lagSeconds (the target per
replica, default 10), minReplicas (default 0 with KEDA: scale to zero; 1 with an HPA, which cannot
scale to zero), maxReplicas (required; capped at the smallest partition count known of the
consumed topics, `partitions` or `minPartitions`: more members than partitions stay idle),
cooldownPeriod (default 300 s; an HPA's scale-down stabilization window). KEDA only:
prometheusAddress (required), pollingInterval (default 30 s). Renders nothing unless enabled.
*/}}

{{/* The checked replica bounds and group of an enabled autoscaling block, as JSON. */}}
{{- define "kafkadeps.autoscaling.plan" -}}
{{- $k := include "kafkadeps.block" . | fromJson -}}
{{- $a := $k.autoscaling | default dict -}}
{{- include "kafkadeps.validate" $k -}}
{{- $via := $a.autoscaler | default "keda" -}}
{{- if not (has $via (list "keda" "hpa")) -}}
{{- fail (printf "kafkadeps: kafka.autoscaling.autoscaler must be keda or hpa (got %q)" $via) -}}
{{- end -}}
{{- if not $k.consumes -}}
{{- fail "kafkadeps: kafka.autoscaling scales a consumer on its lag: declare kafka.consumes" -}}
{{- end -}}
{{- $max := int ($a.maxReplicas | default 0) -}}
{{- if lt $max 1 -}}
{{- fail "kafkadeps: kafka.autoscaling.maxReplicas is required (at most the consumed topics' partition count)" -}}
{{- end -}}
{{- range $k.consumes -}}
{{- $p := int (.partitions | default .minPartitions | default 0) -}}
{{- if and (gt $p 0) (lt $p $max) -}}{{- $max = $p -}}{{- end -}}
{{- end -}}
{{- $min := int (hasKey $a "minReplicas" | ternary $a.minReplicas (eq $via "hpa" | ternary 1 0)) -}}
{{- if and (eq $via "hpa") (lt $min 1) -}}
{{- fail "kafkadeps: kafka.autoscaling.minReplicas must be at least 1 with autoscaler hpa (a HorizontalPodAutoscaler cannot scale to zero; use autoscaler keda)" -}}
{{- end -}}
{{- if gt $min $max -}}
{{- fail (printf "kafkadeps: kafka.autoscaling.minReplicas %d is above maxReplicas %d (capped at the partition count)" $min $max) -}}
{{- end -}}
{{- dict "via" $via "min" $min "max" $max "group" ($k.group | default $k.app | default (include "kafkadeps.names.fullname" .)) | toJson -}}
{{- end -}}

{{- define "kafkadeps.scaledObject" -}}
{{- $a := (include "kafkadeps.block" . | fromJson).autoscaling | default dict -}}
{{- if and $a.enabled (eq ($a.autoscaler | default "keda") "keda") -}}
{{- $plan := include "kafkadeps.autoscaling.plan" . | fromJson -}}
{{- if not $a.prometheusAddress -}}
{{- fail "kafkadeps: kafka.autoscaling.prometheusAddress is required (the Prometheus that scrapes kafkadeps-sidecar observe)" -}}
{{- end -}}
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
  minReplicaCount: {{ int $plan.min }}
  maxReplicaCount: {{ int $plan.max }}
  pollingInterval: {{ int ($a.pollingInterval | default 30) }}
  cooldownPeriod: {{ int ($a.cooldownPeriod | default 300) }}
  triggers:
    - type: prometheus
      metadata:
        serverAddress: {{ $a.prometheusAddress | quote }}
        query: {{ printf "max(kafkadeps_group_lag_seconds{group=%q})" $plan.group | quote }}
        threshold: {{ printf "%v" ($a.lagSeconds | default 10) | quote }}
        activationThreshold: "0"
{{- end -}}
{{- end -}}

{{/*
kafkadeps.horizontalPodAutoscaler — an autoscaling/v2 HorizontalPodAutoscaler on the External
metric kafkadeps_group_lag_seconds{group=...}, served by an external-metrics adapter (e.g.
prometheus-adapter with the rule in the chart's README), with an AverageValue target of
lagSeconds per replica (as KEDA's Prometheus trigger).
*/}}
{{- define "kafkadeps.horizontalPodAutoscaler" -}}
{{- $a := (include "kafkadeps.block" . | fromJson).autoscaling | default dict -}}
{{- if and $a.enabled (eq ($a.autoscaler | default "keda") "hpa") -}}
{{- $plan := include "kafkadeps.autoscaling.plan" . | fromJson -}}
{{- $name := include "kafkadeps.names.fullname" . -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "kafkadeps.labels.standard" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ int $plan.min }}
  maxReplicas: {{ int $plan.max }}
  metrics:
    - type: External
      external:
        metric:
          name: kafkadeps_group_lag_seconds
          selector:
            matchLabels:
              group: {{ $plan.group | quote }}
        target:
          type: AverageValue
          averageValue: {{ printf "%v" ($a.lagSeconds | default 10) | quote }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: {{ int ($a.cooldownPeriod | default 300) }}
{{- end -}}
{{- end -}}
