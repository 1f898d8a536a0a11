{{/*
kafkadeps.env — the KAFKA_* environment entries of the values block, as a YAML list:

  env:
    {{- include "kafkadeps.env" (dict "context" $) | nindent 12 }}

Options of the dict: "kafka" (a values block other than .Values.kafka).
*/}}
{{- define "kafkadeps.env" -}}
{{- $k := include "kafkadeps.block" . | fromJson -}}
{{- include "kafkadeps.validate" $k -}}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ $k.bootstrapServers | quote }}
{{- with $k.app }}
- name: KAFKA_APP
  value: {{ . | quote }}
{{- end }}
{{- with $k.group }}
- name: KAFKA_GROUP_ID
  value: {{ . | quote }}
{{- end }}
{{- if $k.staticMembership }}
- name: KAFKA_GROUP_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
{{- with $k.topic }}
{{- include "kafkadeps.validateTopic" (dict "topic" (dict "name" .) "where" "kafka.topic") }}
- name: KAFKA_TOPIC
  value: {{ . | quote }}
{{- end }}
{{- with $k.produces }}
- name: KAFKA_PRODUCES
  value: {{ include "kafkadeps.declarationList" (dict "topics" . "where" "kafka.produces") | quote }}
{{- end }}
{{- with $k.consumes }}
- name: KAFKA_CONSUMES
  value: {{ include "kafkadeps.declarationList" (dict "topics" . "where" "kafka.consumes") | quote }}
{{- end }}
{{- with $k.topicDefaults }}
{{- include "kafkadeps.validateTopic" (dict "topic" (merge (dict "name" "defaults") .) "where" "kafka.topicDefaults") }}
{{- $d := include "kafkadeps.declaration" (merge (dict "name" "") .) }}
- name: KAFKA_TOPIC_DEFAULTS
  value: {{ $d | trimPrefix "(" | trimSuffix ")" | quote }}
{{- end }}
- name: KAFKA_TOPIC_POLICY
  value: {{ $k.topicPolicy | default "create" | quote }}
{{- with $k.topicReplicas }}
- name: KAFKA_TOPIC_REPLICAS
  value: {{ . | quote }}
{{- end }}
{{- with $k.durability }}
- name: KAFKA_DURABILITY
  value: {{ . | quote }}
{{- end }}
{{- with $k.security }}
{{- with .protocol }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ . | quote }}
{{- end }}
{{- with .saslMechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ . | quote }}
{{- end }}
{{- with .saslUsername }}
- name: KAFKA_SASL_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- with .saslPasswordSecret }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "kafkadeps: kafka.security.saslPasswordSecret.name is required" .name | quote }}
      key: {{ .key | default "password" | quote }}
{{- end }}
{{- with .caLocation }}
- name: KAFKA_SSL_CA_LOCATION
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- range $property, $value := ($k.clientProperties | default dict) }}
- name: {{ printf "KAFKA_CLIENT_%s" ($property | upper | replace "." "_") }}
  value: {{ include "kafkadeps.scalar" $value | quote }}
{{- end }}
{{- with $k.metrics }}
{{- if hasKey . "port" }}
- name: KAFKA_METRICS_LISTEN
  value: {{ printf "0.0.0.0:%s" (include "kafkadeps.scalar" .port) | quote }}
{{- end }}
{{- if .partitionLag }}
- name: KAFKA_METRICS_PARTITION_LAG
  value: "true"
{{- end }}
{{- end }}
{{- with $k.logFormat }}
- name: KAFKA_LOG_FORMAT
  value: {{ . | quote }}
{{- end }}
{{- end -}}
