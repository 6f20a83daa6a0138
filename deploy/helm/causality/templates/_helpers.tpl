{{/* Names and labels. */}}
{{- define "causality.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "causality.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "causality.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: causality
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* Selector labels of one component: (dict "ctx" $ "component" "ingest"). */}}
{{- define "causality.selectorLabels" -}}
app.kubernetes.io/name: {{ include "causality.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "causality.componentLabels" -}}
{{ include "causality.labels" .ctx }}
{{ include "causality.selectorLabels" . }}
{{- end }}

{{/* The Causality image: repository@digest, or repository:tag with an exact tag. */}}
{{- define "causality.image" -}}
{{- $img := .Values.image -}}
{{- if not $img.repository }}{{ fail "image.repository is required" }}{{ end -}}
{{- if $img.digest -}}
{{- if not (hasPrefix "sha256:" $img.digest) }}{{ fail "image.digest must be sha256:…" }}{{ end -}}
{{ $img.repository }}@{{ $img.digest }}
{{- else -}}
{{- $tag := toString (default "" $img.tag) -}}
{{- if or (eq $tag "") (eq $tag "latest") -}}
{{- fail "image.tag must be an exact version (not empty, not `latest`), or set image.digest: every pod of a release must run the same build" -}}
{{- end -}}
{{ $img.repository }}:{{ $tag }}
{{- end -}}
{{- end }}

{{- define "causality.trinoImage" -}}
{{- $img := .Values.trino.image -}}
{{- if $img.digest -}}
{{ $img.repository }}@{{ $img.digest }}
{{- else -}}
{{- $tag := toString (default "" $img.tag) -}}
{{- if or (eq $tag "") (eq $tag "latest") -}}
{{- fail "trino.image.tag must be an exact version (not empty, not `latest`), or set trino.image.digest" -}}
{{- end -}}
{{ $img.repository }}:{{ $tag }}
{{- end -}}
{{- end }}

{{/* Resources from {cpu, memory}: memory requested = limited, CPU requested, never limited. */}}
{{- define "causality.resources" -}}
{{- if or (not .cpu) (not .memory) }}{{ fail "resources need both cpu and memory" }}{{ end -}}
requests:
  cpu: {{ .cpu | quote }}
  memory: {{ .memory | quote }}
limits:
  memory: {{ .memory | quote }}
{{- end }}

{{- define "causality.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{/* NATS: the StatefulSet, its headless Service, the routes and the client URL. */}}
{{- define "causality.nats.name" -}}{{ include "causality.fullname" . }}-nats{{- end }}
{{- define "causality.nats.headless" -}}{{ include "causality.fullname" . }}-nats-headless{{- end }}
{{- define "causality.nats.host" -}}
{{- printf "%s-%d.%s.%s.svc" (include "causality.nats.name" .ctx) (int .index) (include "causality.nats.headless" .ctx) .ctx.Release.Namespace -}}
{{- end }}
{{- define "causality.nats.url" -}}
{{- $urls := list -}}
{{- range $i := until 3 -}}
{{- $urls = append $urls (printf "nats://%s:4222" (include "causality.nats.host" (dict "ctx" $ "index" $i))) -}}
{{- end -}}
{{ join "," $urls }}
{{- end }}

{{/* JetStream's max_file_store: 85 % of the node's volume (Gi, Mi or Ti), in MiB ("17408M"
for 20Gi), so the store fills before the filesystem does. */}}
{{- define "causality.nats.maxFileStore" -}}
{{- $size := toString .Values.nats.storage.size -}}
{{- if not (regexMatch "^[1-9][0-9]*(Mi|Gi|Ti)$" $size) -}}
{{- fail (printf "nats.storage.size must be a whole number of Mi, Gi or Ti (got %q): JetStream's max_file_store is derived from it" $size) -}}
{{- end -}}
{{- $n := regexFind "^[0-9]+" $size | int -}}
{{- $mi := $n -}}
{{- if hasSuffix "Gi" $size }}{{ $mi = mul $n 1024 }}{{ end -}}
{{- if hasSuffix "Ti" $size }}{{ $mi = mul $n 1048576 }}{{ end -}}
{{- printf "%dM" (div (mul $mi 85) 100) -}}
{{- end }}

{{/* An image that is not ours: (dict "img" .Values.x.image "what" "x.image"), exact tag or digest. */}}
{{- define "causality.pinnedImage" -}}
{{- $img := .img -}}
{{- if $img.digest -}}
{{ $img.repository }}@{{ $img.digest }}
{{- else -}}
{{- $tag := toString (default "" $img.tag) -}}
{{- if or (eq $tag "") (eq $tag "latest") -}}
{{- fail (printf "%s.tag must be an exact version (not empty, not `latest`), or set %s.digest" .what .what) -}}
{{- end -}}
{{ $img.repository }}:{{ $tag }}
{{- end -}}
{{- end }}

{{- define "causality.trino.coordinator" -}}{{ include "causality.fullname" . }}-trino{{- end }}

{{/* Secrets: the Secret each one lives in (yours, or the one this chart makes). */}}
{{- define "causality.secretName" -}}{{ include "causality.fullname" . }}{{- end }}
{{- define "causality.s3Secret" -}}{{ .Values.storage.existingSecret | default (include "causality.secretName" .) }}{{- end }}
{{- define "causality.metadataSecret" -}}{{ .Values.metadata.existingSecret | default (include "causality.secretName" .) }}{{- end }}
{{- define "causality.reactorKeySecret" -}}{{ .Values.reactorKey.existingSecret | default (printf "%s-reactor-key" (include "causality.fullname" .)) }}{{- end }}
{{- define "causality.llmSecret" -}}{{ .Values.llm.existingSecret | default (include "causality.secretName" .) }}{{- end }}

{{/* What every Causality process reads: data dir, NATS cluster, warehouse on S3. */}}
{{- define "causality.commonEnv" -}}
{{- if not (hasPrefix "s3://" (toString .Values.storage.warehouse)) }}
{{- fail "storage.warehouse must be s3://bucket/prefix: the sinks, the compactor and the engines share it" }}
{{- end }}
- name: CAUSALITY_DATA_DIR
  value: /data
- name: HOME
  value: /tmp
- name: CAUSALITY_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: CAUSALITY_NATS_URL
  value: {{ include "causality.nats.url" . | quote }}
- name: CAUSALITY_NATS_REPLICAS
  value: "3"
- name: CAUSALITY_STORAGE_WAREHOUSE
  value: {{ .Values.storage.warehouse | quote }}
{{- with .Values.storage.endpoint }}
- name: CAUSALITY_STORAGE_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: CAUSALITY_STORAGE_S3_REGION
  value: {{ .Values.storage.region | quote }}
- name: CAUSALITY_STORAGE_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "causality.s3Secret" . }}
      key: {{ .Values.storage.accessKeyKey }}
- name: CAUSALITY_STORAGE_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "causality.s3Secret" . }}
      key: {{ .Values.storage.secretKeyKey }}
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{- define "causality.metadataEnv" -}}
{{- if and (not .Values.metadata.existingSecret) (not .Values.metadata.url) }}
{{- fail "the metadata store is required: set metadata.existingSecret (a Secret holding its URL) or metadata.url (postgresql+psycopg://…)" }}
{{- end }}
- name: CAUSALITY_METADATA_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "causality.metadataSecret" . }}
      key: {{ .Values.metadata.urlKey }}
{{- end }}

{{- define "causality.reactorKeyEnv" -}}
- name: CAUSALITY_REACTOR_SECRET_KEY_FILE
  value: /secrets/reactor/reactor.key
{{- end }}
{{- define "causality.reactorKeyMount" -}}
- name: reactor-key
  mountPath: /secrets/reactor
  readOnly: true
{{- end }}
{{- define "causality.reactorKeyVolume" -}}
- name: reactor-key
  secret:
    secretName: {{ include "causality.reactorKeySecret" . }}
    defaultMode: 0400
    items:
      - key: {{ .Values.reactorKey.keyKey }}
        path: reactor.key
{{- end }}

{{/* Writable places on a read-only root: /tmp and the data dir. */}}
{{- define "causality.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- end }}
{{- define "causality.scratchVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .tmp | default "1Gi" }}
- name: data
  emptyDir:
    sizeLimit: {{ .data | default "1Gi" }}
{{- end }}

{{/* The probes of a process served by pipeline/probes.py: liveness /livez, readiness /readyz. */}}
{{- define "causality.probes" -}}
livenessProbe:
  httpGet:
    path: /livez
    port: http
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: {{ .periodSeconds | default 5 }}
  timeoutSeconds: 3
  failureThreshold: {{ .failureThreshold | default 2 }}
{{- end }}

{{- define "causality.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- end }}

{{/* A NetworkPolicy peer: the pods of one component of this release. */}}
{{- define "causality.peer" -}}
- podSelector:
    matchLabels:
      {{- include "causality.selectorLabels" . | nindent 6 }}
{{- end }}
