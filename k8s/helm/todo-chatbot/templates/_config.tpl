{{/* ConfigMap data per component. Service URLs use the in-cluster Service names. */}}
{{- define "todo-chatbot.serviceUrl" -}}
{{- $values := index .ctx.Values .component }}
{{- printf "http://%s:%v" (include "todo-chatbot.componentName" .) $values.service.port }}
{{- end }}

{{- define "todo-chatbot.config.frontend" -}}
BACKEND_URL: {{ include "todo-chatbot.serviceUrl" (dict "ctx" . "component" "backend") | quote }}
BETTER_AUTH_URL: {{ include "todo-chatbot.publicUrl" . | quote }}
AUTH_DATA_DIR: "/app/data"
AUTH_SQLITE_PATH: "/app/data/auth.db"
NODE_ENV: "production"
PORT: "3000"
HOSTNAME: "0.0.0.0"
NEXT_TELEMETRY_DISABLED: "1"
{{- end }}

{{- define "todo-chatbot.config.backendCommon" -}}
BETTER_AUTH_JWKS_URL: {{ printf "%s/api/auth/jwks" (include "todo-chatbot.serviceUrl" (dict "ctx" . "component" "frontend")) | quote }}
BETTER_AUTH_ISSUER: {{ include "todo-chatbot.publicUrl" . | quote }}
BETTER_AUTH_AUDIENCE: {{ include "todo-chatbot.publicUrl" . | quote }}
SQLITE_PATH: "/data/todo.db"
PYTHONUNBUFFERED: "1"
PYTHONDONTWRITEBYTECODE: "1"
{{- end }}

{{- define "todo-chatbot.config.backend" -}}
{{ include "todo-chatbot.config.backendCommon" . }}
ANTHROPIC_MODEL: {{ .Values.anthropicModel | quote }}
TASK_MCP_URL: {{ printf "%s/mcp" (include "todo-chatbot.serviceUrl" (dict "ctx" . "component" "mcpServer")) | quote }}
# A JSON list: pydantic-settings decodes list-typed env vars as JSON.
CORS_ORIGINS: {{ prepend .Values.backend.corsOrigins (include "todo-chatbot.publicUrl" .) | toJson | quote }}
{{- if include "todo-chatbot.chatOpsEnabled" . }}
# Chat ops for admins; OPS_MCP_TOKEN comes from the Secret (the ops server's OPS_MCP_HTTP_TOKEN).
OPS_MCP_URL: {{ printf "%s/mcp" (include "todo-chatbot.serviceUrl" (dict "ctx" . "component" "opsMcp")) | quote }}
ADMIN_USER_IDS: {{ join "," .Values.backend.chatOps.adminUserIds | quote }}
OPS_CHAT_ALLOW_WRITES: {{ .Values.backend.chatOps.allowWrites | toString | quote }}
OPS_MCP_FORWARD_USER_TOKEN: {{ .Values.backend.chatOps.forwardUserToken | toString | quote }}
{{- end }}
{{- end }}

{{- define "todo-chatbot.config.mcpServer" -}}
{{ include "todo-chatbot.config.backendCommon" . }}
{{- end }}

{{- define "todo-chatbot.config.opsMcp" -}}
{{- $svc := include "todo-chatbot.componentName" (dict "ctx" . "component" "opsMcp") }}
{{- $ns := .Release.Namespace }}
{{- $hosts := list }}
{{- range $h := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) }}
{{- $hosts = concat $hosts (list $h (printf "%s:*" $h)) }}
{{- end }}
{{- $hosts = concat $hosts (list "localhost:*" "127.0.0.1:*") .Values.opsMcp.extraAllowedHosts }}
OPS_MCP_IN_CLUSTER: "true"
OPS_MCP_NAMESPACE: {{ .Release.Namespace | quote }}
OPS_MCP_NAMESPACES: {{ include "todo-chatbot.opsMcpNamespaces" . | quote }}
OPS_MCP_READ_ONLY: {{ .Values.opsMcp.readOnly | toString | quote }}
OPS_MCP_DISABLE_DESTRUCTIVE: {{ .Values.opsMcp.disableDestructive | toString | quote }}
OPS_MCP_MAX_REPLICAS: {{ .Values.opsMcp.maxReplicas | toString | quote }}
OPS_MCP_TOOLSETS: {{ join "," .Values.opsMcp.toolsets | quote }}
OPS_MCP_TOOLS: {{ include "todo-chatbot.opsMcpTools" . | quote }}
OPS_MCP_ALLOW_EXEC: {{ and .Values.opsMcp.allowExec (not .Values.opsMcp.readOnly) | toString | quote }}
OPS_MCP_ALLOWED_HOSTS: {{ join "," $hosts | quote }}
{{- with .Values.opsMcp.writePolicy }}
OPS_MCP_ALLOW_SECRET_WRITES: {{ .allowSecretWrites | toString | quote }}
OPS_MCP_ALLOW_NETWORK_POLICY_WRITES: {{ .allowNetworkPolicyWrites | toString | quote }}
OPS_MCP_ALLOW_RBAC_WRITES: {{ .allowRbacWrites | toString | quote }}
OPS_MCP_ALLOW_SERVICE_TYPES: {{ join "," .allowServiceTypes | quote }}
OPS_MCP_POD_SECURITY: {{ .podSecurity | quote }}
OPS_MCP_POLICY_DISABLE: {{ join "," .disable | quote }}
{{- end }}
OPS_MCP_PROTECTED_OBJECTS: {{ include "todo-chatbot.opsMcpProtectedObjects" . | quote }}
{{- with .Values.opsMcp.consent }}
OPS_MCP_CONSENT: {{ . | quote }}
{{- end }}
OPS_MCP_RELEASE: {{ .Release.Name | quote }}
OPS_MCP_CHART_PATH: "/opt/ops-mcp/charts/todo-chatbot"
{{- if and (include "todo-chatbot.chatOpsEnabled" .) .Values.backend.chatOps.forwardUserToken }}
{{- if not .Values.backend.chatOps.adminUserIds }}
{{- fail "backend.chatOps.forwardUserToken needs backend.chatOps.adminUserIds: ops-mcp accepts the app's tokens of those users only" }}
{{- end }}
# The admins' own Better Auth tokens (chat ops forward them): the backend's issuer, audience and JWKS.
OPS_MCP_OIDC_ISSUER: {{ include "todo-chatbot.publicUrl" . | quote }}
OPS_MCP_OIDC_AUDIENCE: {{ include "todo-chatbot.publicUrl" . | quote }}
OPS_MCP_OIDC_JWKS_URL: {{ printf "%s/api/auth/jwks" (include "todo-chatbot.serviceUrl" (dict "ctx" . "component" "frontend")) | quote }}
OPS_MCP_OIDC_SUBJECTS: {{ join "," .Values.backend.chatOps.adminUserIds | quote }}
{{- end }}
OPS_MCP_HELM_BINARY: "/usr/local/bin/helm"
OPS_MCP_AUDIT_LOG: "/var/lib/ops-mcp/audit.jsonl"
HELM_CACHE_HOME: "/tmp/helm/cache"
HELM_CONFIG_HOME: "/tmp/helm/config"
HELM_DATA_HOME: "/tmp/helm/data"
PYTHONUNBUFFERED: "1"
PYTHONDONTWRITEBYTECODE: "1"
{{- end }}

{{- define "todo-chatbot.configChecksum" -}}
{{- include (printf "todo-chatbot.config.%s" .component) .ctx | sha256sum }}
{{- end }}
