{{/*
Names and labels shared by every template (and by templates/monitoring-*.yaml).
*/}}

{{/* The chart's name: "layerseal" unless nameOverride. */}}
{{- define "layerseal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object's name: fullnameOverride, else the release name when it contains
the chart's name, else <release>-<name>. Leaves room for the longest suffix
("-agent-installer", 16 characters) within the 63 of a label value.
*/}}
{{- define "layerseal.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "layerseal.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "layerseal.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object (each adds its name, instance and component). */}}
{{- define "layerseal.labels" -}}
helm.sh/chart: {{ include "layerseal.chart" . }}
app.kubernetes.io/part-of: {{ include "layerseal.name" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Object names. */}}
{{- define "layerseal.controller.fullname" -}}
{{- printf "%s-controller" (include "layerseal.fullname" .) -}}
{{- end -}}
{{- define "layerseal.installer.fullname" -}}
{{- printf "%s-agent-installer" (include "layerseal.fullname" .) -}}
{{- end -}}
{{- define "layerseal.agentConfig.name" -}}
{{- printf "%s-agent-config" (include "layerseal.fullname" .) -}}
{{- end -}}

{{/* The controller's selector labels (Deployment, Service, NetworkPolicy, PodMonitor). */}}
{{- define "layerseal.controller.selectorLabels" -}}
app.kubernetes.io/name: {{ include "layerseal.name" . }}-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "layerseal.controller.labels" -}}
{{ include "layerseal.labels" . }}
{{ include "layerseal.controller.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end -}}

{{/* The installer's selector labels. */}}
{{- define "layerseal.installer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "layerseal.name" . }}-agent-installer
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "layerseal.installer.labels" -}}
{{ include "layerseal.labels" . }}
{{ include "layerseal.installer.selectorLabels" . }}
app.kubernetes.io/component: agent-installer
{{- end -}}

{{/* Labels of the agent's ConfigMap (the agent runs on the hosts, not as a pod). */}}
{{- define "layerseal.agent.labels" -}}
{{ include "layerseal.labels" . }}
app.kubernetes.io/name: {{ include "layerseal.name" . }}-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "layerseal.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "layerseal.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create -}}
{{- default (include "layerseal.controller.fullname" .) .Values.controller.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.controller.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "layerseal.controllerSecret" -}}
{{- default (printf "%s-controller-tls" (include "layerseal.fullname" .)) .Values.certificates.controllerSecret -}}
{{- end -}}
{{- define "layerseal.agentSecret" -}}
{{- default (printf "%s-agent-certs" (include "layerseal.fullname" .)) .Values.certificates.agentSecret -}}
{{- end -}}

{{/* The Service's DNS names: <svc>, <svc>.<ns>, <svc>.<ns>.svc, <svc>.<ns>.svc.<domain>. */}}
{{- define "layerseal.controller.dnsNames" -}}
{{- $svc := include "layerseal.controller.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) | toJson -}}
{{- end -}}

{{/* "true" when the controller calls the Kubernetes API (Pod Events or PolicyReports). */}}
{{- define "layerseal.controller.usesApi" -}}
{{- if or .Values.controller.kubernetes.podEvents (ne .Values.controller.kubernetes.policyReports.api "off") -}}
true
{{- end -}}
{{- end -}}

{{/* The controller's ports: fixed by the image's EXPOSE and the kustomize manifests. */}}
{{- define "layerseal.controller.grpcPort" -}}7443{{- end -}}
{{- define "layerseal.controller.adminPort" -}}7081{{- end -}}
{{- define "layerseal.controller.webPort" -}}7080{{- end -}}
