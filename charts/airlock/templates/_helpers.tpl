{{/* Names, labels and computed settings shared by the templates. */}}

{{- define "airlock.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "airlock.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "airlock.selectorLabels" -}}
app.kubernetes.io/name: {{ include "airlock.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "airlock.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "airlock.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: airlock
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "airlock.serviceAccountName" -}}
{{- default (include "airlock.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "airlock.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "airlock.webhookCertSecret" -}}
{{- default (printf "%s-webhook-tls" (include "airlock.fullname" .)) .Values.webhook.certSecretName -}}
{{- end -}}

{{- define "airlock.proxyTLSSecret" -}}
{{- default (printf "%s-proxy-tls" (include "airlock.fullname" .)) .Values.proxy.tls.existingSecret -}}
{{- end -}}

{{- define "airlock.regoNamespaces" -}}
{{- $ns := .Values.rego.configMapNamespaces | default (list .Release.Namespace) -}}
{{- toJson (uniq $ns) -}}
{{- end -}}

{{/* The user name the operator runs as: it may mark Approvals consumed or expired. */}}
{{- define "airlock.operatorUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "airlock.serviceAccountName" .) -}}
{{- end -}}

{{/* Refuses settings that would make the release unsafe or broken, with a message naming the value. */}}
{{- define "airlock.validate" -}}
{{- $a := .Values.agents -}}
{{- range $a.groups -}}
{{- if has . (list "system:masters" "system:nodes" "system:authenticated" "system:unauthenticated" "system:serviceaccounts" "system:kube-controller-manager" "system:kube-scheduler") -}}
{{- fail (printf "agents.groups: %q is not an agent group; impersonating it would hand agents that group's rights" .) -}}
{{- end -}}
{{- end -}}
{{- range $a.users -}}
{{- if hasPrefix "system:" . -}}
{{- fail (printf "agents.users: %q is a system identity; list ServiceAccounts under agents.serviceAccounts" .) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.recording.persistence.enabled (gt (int .Values.replicas) 1) (not .Values.recording.persistence.existingClaim) (not (has "ReadWriteMany" .Values.recording.persistence.accessModes)) -}}
{{- fail "recording.persistence.accessModes: ReadWriteMany is required when replicas > 1 (every replica writes recordings to the same volume)" -}}
{{- end -}}
{{- if and (not .Values.leaderElection.enabled) (gt (int .Values.replicas) 1) -}}
{{- fail "leaderElection.enabled: must be true when replicas > 1 (Approval expiry, certificate rotation and the webhook configuration must run on one replica at a time)" -}}
{{- end -}}
{{- if and (not .Values.proxy.enabled) (not .Values.webhook.enabled) -}}
{{- fail "proxy.enabled and webhook.enabled: at least one must be on" -}}
{{- end -}}
{{- end -}}
