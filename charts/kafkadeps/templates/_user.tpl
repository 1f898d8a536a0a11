{{/*
kafkadeps.kafkaUser — a Strimzi KafkaUser for the service with the ACLs its declarations need and
nothing more: the rules of `kafkadeps-sidecar acls` (docs/declarations.md, "Least privilege").

  {{ include "kafkadeps.kafkaUser" (dict "context" $) }}

Needs kafka.strimzi.cluster. kafka.strimzi.user: name (default: kafka.app, then the release's full
name), authentication (scram-sha-512 (default), tls or tls-external), transactional (true: the
exactly-once transactional ids, prefix `<app>-`). A consumer needs kafka.group or kafka.app (the
group the ACL names).
*/}}
{{- define "kafkadeps.kafkaUser" -}}
{{- $k := include "kafkadeps.block" . | fromJson -}}
{{- include "kafkadeps.validate" $k -}}
{{- $ctx := .context -}}
{{- $s := $k.strimzi | default dict -}}
{{- if not $s.cluster -}}
{{- fail "kafkadeps: kafka.strimzi.cluster is required to render a KafkaUser (its strimzi.io/cluster label)" -}}
{{- end -}}
{{- $api := $s.apiVersion | default "kafka.strimzi.io/v1beta2" -}}
{{- $u := $s.user | default dict -}}
{{- $auth := $u.authentication | default "scram-sha-512" -}}
{{- if not (has $auth (list "scram-sha-512" "tls" "tls-external")) -}}
{{- fail (printf "kafkadeps: kafka.strimzi.user.authentication %q is not scram-sha-512, tls or tls-external" $auth) -}}
{{- end -}}
{{- $policy := $k.topicPolicy | default "create" -}}
{{- $changes := ne $policy "verify" -}}
{{- /* topic name -> operations, and which topics the service owns */ -}}
{{- $ops := dict -}}
{{- $owned := dict -}}
{{- $consumed := list -}}
{{- range ($k.produces | default list) -}}
{{- $_ := set $ops .name (concat (get $ops .name | default list) (list "Write")) -}}
{{- $_ := set $owned .name true -}}
{{- end -}}
{{- range ($k.consumes | default list) -}}
{{- $_ := set $ops .name (concat (get $ops .name | default list) (list "Read")) -}}
{{- if .owned -}}{{- $_ := set $owned .name true -}}{{- end -}}
{{- $consumed = append $consumed .name -}}
{{- end -}}
{{- with $k.topic -}}
{{- $_ := set $ops . (concat (get $ops . | default list) (list "Write" "Read")) -}}
{{- $_ := set $owned . true -}}
{{- $consumed = append $consumed . -}}
{{- end -}}
{{- range $consumed -}}
{{- $dlq := printf "%s.dlq" . -}}
{{- $_ := set $ops $dlq (concat (get $ops $dlq | default list) (list "Write")) -}}
{{- $_ := set $owned $dlq true -}}
{{- end -}}
{{- $group := $k.group | default $k.app -}}
{{- if and $consumed (not $group) -}}
{{- fail "kafkadeps: a KafkaUser for a consumer needs kafka.group or kafka.app (the group its ACL names)" -}}
{{- end -}}
{{- $produces := false -}}
{{- range $name, $list := $ops -}}{{- if has "Write" $list -}}{{- $produces = true -}}{{- end -}}{{- end -}}
{{- $order := list "Read" "Write" "Create" "Describe" "Alter" "DescribeConfigs" "AlterConfigs" -}}
---
apiVersion: {{ $api }}
kind: KafkaUser
metadata:
  name: {{ $u.name | default $k.app | default (include "kafkadeps.names.fullname" (dict "context" $ctx)) }}
  {{- with $s.namespace }}
  namespace: {{ . }}
  {{- end }}
  labels:
    strimzi.io/cluster: {{ $s.cluster | quote }}
    {{- include "kafkadeps.labels.standard" (dict "context" $ctx) | nindent 4 }}
spec:
  authentication:
    type: {{ $auth }}
  authorization:
    type: simple
    acls:
      {{- if $produces }}
      - resource:
          type: cluster
        operations: [IdempotentWrite]
        host: "*"
      {{- end }}
      {{- range $name := keys $ops | sortAlpha }}
      {{- $want := concat (get $ops $name) (list "Describe" "DescribeConfigs") -}}
      {{- if $changes -}}{{- $want = append $want "Create" -}}{{- end -}}
      {{- if and $changes (hasKey $owned $name) -}}{{- $want = append $want "Alter" -}}{{- end -}}
      {{- if and (eq $policy "reconcile") (hasKey $owned $name) -}}{{- $want = append $want "AlterConfigs" -}}{{- end -}}
      {{- $sorted := list -}}
      {{- range $op := $order -}}{{- if has $op $want -}}{{- $sorted = append $sorted $op -}}{{- end -}}{{- end }}
      - resource:
          type: topic
          name: {{ $name | quote }}
          patternType: literal
        operations: [{{ join ", " $sorted }}]
        host: "*"
      {{- end }}
      {{- if $consumed }}
      - resource:
          type: group
          name: {{ $group | quote }}
          patternType: literal
        operations: [Read]
        host: "*"
      {{- end }}
      {{- if $u.transactional }}
      - resource:
          type: transactionalId
          name: {{ printf "%s-" (required "kafkadeps: kafka.strimzi.user.transactional needs kafka.app (the transactional id prefix)" $k.app) | quote }}
          patternType: prefix
        operations: [Write, Describe]
        host: "*"
      {{- end }}
{{- end -}}
