{{/* Names and labels. */}}
{{- define "portus.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "portus.labels" -}}
app.kubernetes.io/name: portus
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "portus.selector" -}}
app.kubernetes.io/name: portus
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "portus.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "portus.secretKeySecret" -}}{{ .Values.existingSecret | default (printf "%s-secret-key" (include "portus.fullname" .)) }}{{- end -}}
{{- define "portus.signingSecret" -}}{{ .Values.tokenSigning.existingSecret | default (printf "%s-token-signing" (include "portus.fullname" .)) }}{{- end -}}
{{- define "portus.dbSecret" -}}
{{- if and (eq .Values.database.type "external") .Values.database.external.existingSecret -}}{{ .Values.database.external.existingSecret }}{{- else -}}{{ printf "%s-database" (include "portus.fullname" .) }}{{- end -}}
{{- end -}}
{{- define "portus.metricsSecret" -}}{{ .Values.metrics.existingSecret | default (printf "%s-metrics" (include "portus.fullname" .)) }}{{- end -}}
{{- define "portus.registryHost" -}}{{ printf "%s-registry:5000" (include "portus.fullname" .) }}{{- end -}}

{{/* What every Portus container (web, worker, migration, registry wiring) is given. */}}
{{- define "portus.env" -}}
- name: PORTUS_URL
  value: {{ .Values.externalURL | quote }}
- name: PORTUS_LOCAL_CONFIG
  value: /etc/portus/config-local.yml
- name: PORTUS_SECRET_KEY_BASE
  valueFrom: {secretKeyRef: {name: {{ include "portus.secretKeySecret" . }}, key: secretKey}}
- name: PORTUS_KEY_PATH
  value: /run/portus/token/tls.key
- name: PORTUS_CERT_PATH
  value: /run/portus/token/tls.crt
- name: PORTUS_REGISTRY_JWT_ALGORITHM_VALUE
  value: {{ .Values.tokenSigning.algorithm | quote }}
- name: PORTUS_CHECK_SSL_USAGE_ENABLED
  value: {{ hasPrefix "https://" .Values.externalURL | quote }}
- name: PORTUS_FORWARDED_ALLOW_IPS
  value: "*"
- name: HOME
  value: /tmp
{{- if eq .Values.database.type "internal" }}
- name: PORTUS_DB_ADAPTER
  value: postgresql
- name: PORTUS_DB_HOST
  value: {{ include "portus.fullname" . }}-database
- name: PORTUS_DB_PORT
  value: "5432"
- name: PORTUS_DB_USERNAME
  value: postgres
- name: PORTUS_DB_DATABASE
  value: portus
{{- else }}
- name: PORTUS_DB_ADAPTER
  value: {{ .Values.database.external.adapter | quote }}
- name: PORTUS_DB_HOST
  value: {{ .Values.database.external.host | quote }}
- name: PORTUS_DB_PORT
  value: {{ .Values.database.external.port | quote }}
- name: PORTUS_DB_USERNAME
  value: {{ .Values.database.external.username | quote }}
- name: PORTUS_DB_DATABASE
  value: {{ .Values.database.external.coreDatabase | quote }}
- name: PORTUS_DB_POOL
  value: {{ .Values.database.external.pool | quote }}
{{- end }}
- name: PORTUS_DB_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "portus.dbSecret" . }}, key: password}}
{{- if .Values.metrics.enabled }}
- name: PORTUS_METRICS_TOKEN
  valueFrom: {secretKeyRef: {name: {{ include "portus.metricsSecret" . }}, key: token, optional: true}}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The signing key is a Secret; Portus refuses a key file others may read, so a copy with mode 0600 is made. */}}
{{- define "portus.keyInit" -}}
- name: signing-key
  image: {{ include "portus.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["sh", "-c", "install -m 0600 /secrets/token/tls.key /run/portus/token/tls.key && install -m 0644 /secrets/token/tls.crt /run/portus/token/tls.crt"]
  securityContext: {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - {name: token-secret, mountPath: /secrets/token, readOnly: true}
    - {name: token, mountPath: /run/portus/token}
{{- end -}}

{{- define "portus.volumeMounts" -}}
- {name: config, mountPath: /etc/portus/config-local.yml, subPath: config-local.yml, readOnly: true}
- {name: token, mountPath: /run/portus/token, readOnly: true}
- {name: tmp, mountPath: /tmp}
{{- end -}}

{{- define "portus.volumes" -}}
- name: config
  configMap: {name: {{ include "portus.fullname" . }}-config}
- name: token-secret
  secret: {secretName: {{ include "portus.signingSecret" . }}, defaultMode: 0444}
- name: token
  emptyDir: {medium: Memory, sizeLimit: 1Mi}
- name: tmp
  emptyDir: {sizeLimit: 256Mi}
{{- end -}}
