{{/*
Labels of every object: the ones manifests/ gives (name, part-of), Helm's, and commonLabels.
*/}}
{{- define "meshsign.labels" -}}
app.kubernetes.io/name: meshsign
app.kubernetes.io/part-of: meshsign
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The Pods' selector: the same as manifests/ (immutable on a Deployment).
*/}}
{{- define "meshsign.selectorLabels" -}}
app.kubernetes.io/name: meshsign
app.kubernetes.io/component: ca
{{- end }}

{{/*
Namespace of the leader-election Lease (and of the Role that grants it).
*/}}
{{- define "meshsign.leaderElectionNamespace" -}}
{{- .Values.app.controller.leaderElectionNamespace | default .Release.Namespace }}
{{- end }}

{{/*
DNS names of the serving certificate: the Service's names unless set.
*/}}
{{- define "meshsign.servingDNSNames" -}}
{{- if .Values.app.tls.certificateDNSNames }}
{{- join "," .Values.app.tls.certificateDNSNames }}
{{- else }}
{{- printf "meshsign.%s.svc,meshsign.%s.svc.cluster.local" .Release.Namespace .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
The image reference: repository:tag, or repository@digest.
*/}}
{{- define "meshsign.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}
