{{/*
Names, labels, the image reference and the registry port layout. Names and selector labels are Spegel's exactly
(its charts/spegel/templates/_helpers.tpl and daemonset.yaml since v0.4.0), so `helm upgrade` of a Spegel release to
this chart keeps every immutable field (a DaemonSet's spec.selector) unchanged.
*/}}
{{- define "spegel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release name when it already contains the chart name, else "<release>-<name>"; the untruncated name is
compared, as in Spegel's chart. */}}
{{- define "spegel.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "spegel.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "spegel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spegel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "spegel.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "spegel.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "spegel.serviceAccountName" -}}
{{- default (include "spegel.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "spegel.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "spegel.bootstrapDomain" -}}
{{- printf "%s-bootstrap.%s.svc.%s" (include "spegel.fullname" .) (include "spegel.namespace" .) .Values.clusterDomain }}
{{- end }}

{{/*
The registry's host port, or "" for Spegel main's layout (no host port; the NodePort alone, kept on the node by the
Service's traffic policy). main's layout is chosen when hostPort is null or 0, when it equals nodePort (a Spegel main
values file sets nodePort 30020 and no hostPort, so it meets our default hostPort 30020: the two cannot both be bound)
or when Spegel v0.7.x's usePreferSameNodeTrafficDistribution is true. See values.yaml.
*/}}
{{- define "spegel.hostPort" -}}
{{- $registry := .Values.service.registry }}
{{- if and $registry.hostPort (ne (int $registry.hostPort) (int $registry.nodePort)) (not $registry.usePreferSameNodeTrafficDistribution) }}
{{- int $registry.hostPort }}
{{- end }}
{{- end }}

{{/* NODE_IP: the value of service.registry.nodeIp, else the IP of the node the pod runs on. */}}
{{- define "spegel.nodeIpEnv" -}}
- name: NODE_IP
{{- if .Values.service.registry.nodeIp }}
  value: {{ .Values.service.registry.nodeIp | quote }}
{{- else }}
  valueFrom:
    fieldRef:
      fieldPath: status.hostIP
{{- end }}
{{- end }}
