{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "todo-chatbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; the release name alone when it already contains the chart name. */}}
{{- define "todo-chatbot.fullname" -}}
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

{{- define "todo-chatbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "todo-chatbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo-chatbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "todo-chatbot.labels" -}}
helm.sh/chart: {{ include "todo-chatbot.chart" . }}
{{ include "todo-chatbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: todo-chatbot
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Component helpers take (dict "ctx" $ "component" "backend"). */}}
{{- define "todo-chatbot.componentName" -}}
{{- $suffix := index (dict "frontend" "frontend" "backend" "backend" "mcpServer" "mcp" "opsMcp" "ops-mcp" "postgresql" "postgresql" "sqlite" "sqlite" "migrations" "migrate" "tests" "test") .component }}
{{- printf "%s-%s" (include "todo-chatbot.fullname" .ctx | trunc 50 | trimSuffix "-") $suffix }}
{{- end }}

{{- define "todo-chatbot.componentLabel" -}}
{{- index (dict "frontend" "frontend" "backend" "backend" "mcpServer" "task-mcp" "opsMcp" "ops-mcp" "postgresql" "database" "sqlite" "database" "migrations" "migrations" "tests" "tests") .component }}
{{- end }}

{{- define "todo-chatbot.componentSelectorLabels" -}}
{{ include "todo-chatbot.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ include "todo-chatbot.componentLabel" . }}
{{- end }}

{{- define "todo-chatbot.componentLabels" -}}
{{ include "todo-chatbot.labels" .ctx }}
app.kubernetes.io/component: {{ include "todo-chatbot.componentLabel" . }}
{{- end }}

{{/* Annotations common to every object (metadata.annotations body, may be empty). */}}
{{- define "todo-chatbot.annotations" -}}
{{- with .Values.commonAnnotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* Image reference: [registry/]repository:tag or @digest. Takes (dict "ctx" $ "image" .Values.x.image). */}}
{{- define "todo-chatbot.image" -}}
{{- $repo := .image.repository }}
{{- with .ctx.Values.global.imageRegistry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repo .image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .ctx.Chart.AppVersion .image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "todo-chatbot.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "map" . }}{{ .name }}{{ else }}{{ . }}{{ end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "todo-chatbot.secretName" -}}
{{- default (include "todo-chatbot.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "todo-chatbot.opsMcpServiceAccountName" -}}
{{- if .Values.opsMcp.serviceAccount.create }}
{{- default (include "todo-chatbot.componentName" (dict "ctx" . "component" "opsMcp")) .Values.opsMcp.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.opsMcp.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The frontend's public URL: publicUrl, else the Ingress host. */}}
{{- define "todo-chatbot.publicUrl" -}}
{{- if .Values.publicUrl }}
{{- trimSuffix "/" .Values.publicUrl }}
{{- else }}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) .Values.ingress.host }}
{{- end }}
{{- end }}

{{/* Namespaces ops-mcp may touch. */}}
{{- define "todo-chatbot.opsMcpNamespaces" -}}
{{- $ns := .Values.opsMcp.namespaces | default (list .Release.Namespace) }}
{{- if not (has .Release.Namespace $ns) }}
{{- $ns = prepend $ns .Release.Namespace }}
{{- end }}
{{- join "," (uniq $ns) }}
{{- end }}

{{/* "true" when ops-mcp lists the Helm write tools (opsMcp.helmWrites, with writes on): helm then writes its release
     Secrets and this chart's RBAC objects and NetworkPolicies as ops-mcp. */}}
{{- define "todo-chatbot.opsMcpHelmWrites" -}}
{{- if and .Values.opsMcp.helmWrites (not .Values.opsMcp.readOnly) }}true{{ end }}
{{- end }}

{{/* The Helm write tools; unlisted (OPS_MCP_TOOLS denies them) while writes are on without opsMcp.helmWrites. */}}
{{- define "todo-chatbot.opsMcpHelmWriteTools" -}}
{{- toJson (list "deploy_chart" "rollback_release" "uninstall_release") }}
{{- end }}

{{/* OPS_MCP_TOOLS: "-name" per tool ops-mcp must not list. */}}
{{- define "todo-chatbot.opsMcpTools" -}}
{{- $denied := list }}
{{- if not (or .Values.opsMcp.readOnly .Values.opsMcp.helmWrites) }}
{{- range include "todo-chatbot.opsMcpHelmWriteTools" . | fromJsonArray }}{{ $denied = append $denied (printf "-%s" .) }}{{ end }}
{{- end }}
{{- join "," $denied }}
{{- end }}

{{- define "todo-chatbot.opsMcpClusterRoleName" -}}
{{- printf "%s-%s" (include "todo-chatbot.componentName" (dict "ctx" . "component" "opsMcp")) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "true" when ops-mcp's NetworkPolicy takes the API server's addresses from the live `kubernetes` endpoints
     (networkPolicy.apiServer.cidrs empty): helm's lookup reads them, so helm run by ops-mcp needs to read them too. */}}
{{- define "todo-chatbot.apiServerLookup" -}}
{{- if and .Values.networkPolicy.enabled (not .Values.networkPolicy.apiServer.cidrs) }}true{{ end }}
{{- end }}

{{- define "todo-chatbot.defaultDenyPolicyName" -}}
{{- printf "%s-default-deny" (include "todo-chatbot.fullname" .) }}
{{- end }}

{{/* OPS_MCP_PROTECTED_OBJECTS: Kind/name of ops-mcp's own objects, which no tool may change: its workload, config,
     identity and grants, Service, the NetworkPolicies that select its pods, the Secret with its token, and the
     objects that scale it or point kagent at it. Named whether or not these values render them, so none is created
     under that name either. */}}
{{- define "todo-chatbot.opsMcpProtectedObjects" -}}
{{- $name := include "todo-chatbot.componentName" (dict "ctx" . "component" "opsMcp") }}
{{- $cluster := include "todo-chatbot.opsMcpClusterRoleName" . }}
{{- $objects := list }}
{{- range $kind := list "Deployment" "ConfigMap" "Service" "Role" "RoleBinding" "NetworkPolicy" "HorizontalPodAutoscaler" "PodDisruptionBudget" "RemoteMCPServer" }}
{{- $objects = append $objects (printf "%s/%s" $kind $name) }}
{{- end }}
{{- $objects = concat $objects (list
    (printf "ServiceAccount/%s" (include "todo-chatbot.opsMcpServiceAccountName" .))
    (printf "ClusterRole/%s" $cluster) (printf "ClusterRoleBinding/%s" $cluster)
    (printf "NetworkPolicy/%s" (include "todo-chatbot.defaultDenyPolicyName" .))
    (printf "Secret/%s" (include "todo-chatbot.secretName" .))) }}
{{- join "," $objects }}
{{- end }}

{{/* "true" when the backend's admins get chat ops: backend.chatOps.enabled and the ops MCP server is deployed. */}}
{{- define "todo-chatbot.chatOpsEnabled" -}}
{{- if and .Values.backend.enabled .Values.backend.chatOps.enabled .Values.opsMcp.enabled }}true{{ end }}
{{- end }}

{{/* Which database the app uses: bundled, external or sqlite. */}}
{{- define "todo-chatbot.databaseMode" -}}
{{- if and .Values.postgresql.enabled .Values.externalDatabase.enabled }}
{{- fail "postgresql.enabled and externalDatabase.enabled are both true: pick one (the bundled PostgreSQL for Minikube, an external one such as Neon for production)" }}
{{- else if .Values.postgresql.enabled }}bundled
{{- else if .Values.externalDatabase.enabled }}external
{{- else }}sqlite
{{- end }}
{{- end }}

{{/* A generated secret value kept across upgrades: (dict "ctx" $ "key" "X" "value" given "length" 48). */}}
{{- define "todo-chatbot.secretValue" -}}
{{- if .value }}
{{- .value }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace (include "todo-chatbot.fullname" .ctx) }}
{{- if and $existing $existing.data (hasKey $existing.data .key) }}
{{- index $existing.data .key | b64dec }}
{{- else }}
{{- randAlphaNum (default 48 .length) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Pod annotation that rolls the pods when the Secret changes. */}}
{{- define "todo-chatbot.secretChecksum" -}}
{{- if .Values.secrets.existingSecret }}
{{- $s := lookup "v1" "Secret" .Release.Namespace .Values.secrets.existingSecret }}
{{- printf "%s/%v" .Values.secrets.existingSecret (($s).data | default dict) | sha256sum }}
{{- else }}
{{- /* Inputs only: generated values never change once created, and rendering them here would
       draw fresh random values that differ from the stored ones. */}}
{{- toJson (dict "secrets" .Values.secrets "db" (include "todo-chatbot.databaseMode" .)) | sha256sum }}
{{- end }}
{{- end }}

{{/* env entry from a key of the app Secret. (dict "ctx" $ "name" "X" "key" "Y" (default: name) "optional" bool) */}}
{{- define "todo-chatbot.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "todo-chatbot.secretName" .ctx }}
      key: {{ default .name .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/* DATABASE_URL env for the backend, the task MCP server and migrations. */}}
{{- define "todo-chatbot.databaseEnv" -}}
{{- $mode := include "todo-chatbot.databaseMode" . }}
{{- if ne $mode "sqlite" }}
{{ include "todo-chatbot.secretEnv" (dict "ctx" . "name" "DATABASE_URL") }}
{{- end }}
{{- end }}

{{/* Probes: each block may set enabled:false; the rest is the probe itself. */}}
{{- define "todo-chatbot.probes" -}}
{{- range $kind := list "livenessProbe" "readinessProbe" "startupProbe" }}
{{- $p := index $.values $kind }}
{{- if and $p $p.enabled }}
{{ $kind }}:
  {{- toYaml (omit $p "enabled") | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Scheduling fields shared by every pod spec. */}}
{{- define "todo-chatbot.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Rolling update that never drops below the desired count of ready pods. */}}
{{- define "todo-chatbot.strategy" -}}
strategy:
  type: RollingUpdate
  rollingUpdate:
    maxUnavailable: 0
    maxSurge: 1
{{- end }}

{{/* The most replicas a component may run (its PDB is pointless below 2). */}}
{{- define "todo-chatbot.maxReplicas" -}}
{{- if .autoscaling.enabled }}{{ .autoscaling.maxReplicas }}{{ else }}{{ .replicaCount }}{{ end }}
{{- end }}

{{/* The /data volume of the backend and the task MCP server: in SQLite mode the one shared claim
     (their database is a file on it), else an emptyDir for scratch files. */}}
{{- define "todo-chatbot.dataVolume" -}}
{{- $mode := include "todo-chatbot.databaseMode" . }}
{{- if and (eq $mode "sqlite") .Values.sqlite.persistence.enabled }}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "todo-chatbot.componentName" (dict "ctx" . "component" "sqlite") }}
{{- else }}
{{- if and (eq $mode "sqlite") .Values.backend.enabled .Values.mcpServer.enabled }}
{{- fail "sqlite.persistence.enabled=false gives the backend and the task MCP server a database each, so the chat would not see the REST API's tasks: keep sqlite.persistence.enabled=true, or use PostgreSQL (postgresql.enabled or externalDatabase.enabled)" }}
{{- end }}
- name: data
  emptyDir:
    sizeLimit: 1Gi
{{- end }}
{{- end }}
