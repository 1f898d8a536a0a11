{{/*
kafkadeps.podAnnotations — Prometheus scrape annotations for the admin server, and, with
kafka.sidecar.inject, the kafkadeps.io/* annotations the injector reads (the same declarations).

  template:
    metadata:
      annotations:
        {{- include "kafkadeps.podAnnotations" (dict "context" $) | nindent 8 }}
*/}}
{{- define "kafkadeps.podAnnotations" -}}
{{- $k := include "kafkadeps.block" . | fromJson -}}
{{- include "kafkadeps.validate" $k -}}
{{- $metrics := $k.metrics | default dict -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ include "kafkadeps.scalar" ($metrics.port | default 9464) | quote }}
prometheus.io/path: "/metrics"
{{- $sc := $k.sidecar | default dict }}
{{- if $sc.inject }}
kafkadeps.io/inject: "true"
kafkadeps.io/bootstrap-servers: {{ $k.bootstrapServers | quote }}
{{- with $k.topic }}
kafkadeps.io/topic: {{ . | quote }}
{{- end }}
{{- with $k.produces }}
kafkadeps.io/produces: {{ include "kafkadeps.declarationList" (dict "topics" . "where" "kafka.produces") | quote }}
{{- end }}
{{- with $k.consumes }}
kafkadeps.io/consumes: {{ include "kafkadeps.declarationList" (dict "topics" . "where" "kafka.consumes") | quote }}
{{- end }}
{{- with $k.group }}
kafkadeps.io/group: {{ . | quote }}
{{- end }}
{{- with $k.topicDefaults }}
kafkadeps.io/topic-defaults: {{ include "kafkadeps.declaration" (merge (dict "name" "") .) | trimPrefix "(" | trimSuffix ")" | quote }}
{{- end }}
kafkadeps.io/topic-policy: {{ $k.topicPolicy | default "create" | quote }}
{{- if $sc.deliverUrl }}
kafkadeps.io/deliver-url: {{ $sc.deliverUrl | quote }}
{{- else if $sc.appPort }}
kafkadeps.io/app-port: {{ include "kafkadeps.scalar" $sc.appPort | quote }}
{{- end }}
{{- with $sc.image }}
kafkadeps.io/sidecar-image: {{ . | quote }}
{{- end }}
{{- with $sc.cpu }}
kafkadeps.io/sidecar-cpu: {{ . | quote }}
{{- end }}
{{- with $sc.memory }}
kafkadeps.io/sidecar-memory: {{ . | quote }}
{{- end }}
{{- with $sc.shutdownGrace }}
kafkadeps.io/shutdown-grace: {{ . | quote }}
{{- end }}
{{- if hasKey $sc "native" }}
kafkadeps.io/native-sidecar: {{ $sc.native | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
kafkadeps.sidecar — the sidecar container, for teams that add it explicitly instead of through the
injector. With kafka.sidecar.native (default true) it is a native sidecar: list it under
initContainers (it carries `restartPolicy: Always`); otherwise under containers.

  initContainers:
    {{- include "kafkadeps.sidecar" (dict "context" $) | nindent 4 }}

The app container then reaches it at http://127.0.0.1:4195 (`KAFKA_SIDECAR_URL`).
*/}}
{{- define "kafkadeps.sidecar" -}}
{{- $k := include "kafkadeps.block" . | fromJson -}}
{{- include "kafkadeps.validate" $k -}}
{{- $sc := $k.sidecar | default dict -}}
{{- $native := true -}}
{{- if hasKey $sc "native" }}{{ $native = $sc.native }}{{ end -}}
{{- $port := include "kafkadeps.scalar" (($k.metrics | default dict).port | default 9464) -}}
- name: kafkadeps
  image: {{ $sc.image | default "kafkadeps/sidecar:0.1.0" | quote }}
  imagePullPolicy: IfNotPresent
  args: ["serve"]
  {{- if $native }}
  restartPolicy: Always
  {{- end }}
  env:
    {{- include "kafkadeps.env" . | nindent 4 }}
    {{- if $sc.deliverUrl }}
    - name: KAFKA_SIDECAR_DELIVER_URL
      value: {{ $sc.deliverUrl | quote }}
    {{- else if $sc.appPort }}
    - name: KAFKA_SIDECAR_DELIVER_URL
      value: {{ printf "http://127.0.0.1:%s/kafka" (include "kafkadeps.scalar" $sc.appPort) | quote }}
    {{- end }}
    {{- with $sc.shutdownGrace }}
    - name: KAFKA_SIDECAR_SHUTDOWN_GRACE
      value: {{ . | quote }}
    {{- end }}
  ports:
    - name: kafkadeps-admin
      containerPort: {{ $port }}
      protocol: TCP
  {{- if $native }}
  startupProbe:
    httpGet: { path: /readyz, port: {{ $port }} }
    periodSeconds: 1
    failureThreshold: 120
  {{- end }}
  readinessProbe:
    httpGet: { path: /readyz, port: {{ $port }} }
    periodSeconds: 5
  livenessProbe:
    httpGet: { path: /livez, port: {{ $port }} }
    periodSeconds: 10
    failureThreshold: 6
  {{- /* A native sidecar is drained by the SIGTERM it gets once the app containers exited; a
  preStop hook would run at the start of the termination, next to the app's SIGTERM. A regular
  container holds the app back until ready and drains explicitly. */}}
  {{- if not $native }}
  lifecycle:
    postStart:
      exec:
        command: ["kafkadeps-sidecar", "wait", "--timeout", "300s"]
    preStop:
      exec:
        command: ["kafkadeps-sidecar", "drain"]
  {{- end }}
  resources:
    {{- toYaml ($sc.resources | default (dict "requests" (dict "cpu" ($sc.cpu | default "50m") "memory" ($sc.memory | default "64Mi")) "limits" (dict "memory" ($sc.memory | default "64Mi")))) | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities:
      drop: ["ALL"]
    seccompProfile:
      type: RuntimeDefault
{{- end -}}

{{/*
kafkadeps.terminationGracePeriodSeconds — a pod's grace that covers the app's shutdown and then the
sidecar's whole drain (kafka.sidecar.shutdownGrace, 25s by default): 30 + the drain in seconds, or
the pod's own value when given ("seconds"), which must exceed the drain.

  spec:
    terminationGracePeriodSeconds: {{ include "kafkadeps.terminationGracePeriodSeconds" (dict "context" $ "seconds" .Values.pod.terminationGracePeriodSeconds) }}
*/}}
{{- define "kafkadeps.terminationGracePeriodSeconds" -}}
{{- $k := include "kafkadeps.block" . | fromJson -}}
{{- $grace := toString (($k.sidecar | default dict).shutdownGrace | default "25s") -}}
{{- if not (regexMatch "^[0-9]+(s|m)$" $grace) -}}
{{- fail (printf "kafkadeps: kafka.sidecar.shutdownGrace %q is not a duration like 25s or 1m" $grace) -}}
{{- end -}}
{{- $drain := int64 (trimSuffix "s" (trimSuffix "m" $grace)) -}}
{{- if hasSuffix "m" $grace -}}{{- $drain = mul $drain 60 -}}{{- end -}}
{{- if .seconds -}}
{{- if le (int64 .seconds) $drain -}}
{{- fail (printf "kafkadeps: terminationGracePeriodSeconds %v does not exceed the sidecar's drain (%ds, kafka.sidecar.shutdownGrace): the kubelet would kill it before it committed; use at least %d" .seconds $drain (add $drain 30)) -}}
{{- end -}}
{{- int64 .seconds -}}
{{- else -}}
{{- add $drain 30 -}}
{{- end -}}
{{- end -}}
