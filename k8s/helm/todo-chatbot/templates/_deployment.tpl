{{/*
One Deployment shape for the four app components. Takes a dict:
  ctx, component (values key), port, portName, command (list),
  env (YAML list text, may be empty), volumeMounts / volumes (YAML list text, may be empty),
  serviceAccountName (empty = none, and no token is mounted).
*/}}
{{- define "todo-chatbot.deployment" -}}
{{- $ctx := .ctx }}
{{- $v := index $ctx.Values .component }}
{{- $name := include "todo-chatbot.componentName" (dict "ctx" $ctx "component" .component) }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "todo-chatbot.componentLabels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
  {{- with (include "todo-chatbot.annotations" $ctx) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "todo-chatbot.componentSelectorLabels" (dict "ctx" $ctx "component" .component) | nindent 6 }}
  {{- include "todo-chatbot.strategy" . | nindent 2 }}
  template:
    metadata:
      labels:
        {{- include "todo-chatbot.componentLabels" (dict "ctx" $ctx "component" .component) | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "todo-chatbot.configChecksum" (dict "ctx" $ctx "component" .component) }}
        checksum/secret: {{ include "todo-chatbot.secretChecksum" $ctx }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- with (include "todo-chatbot.imagePullSecrets" $ctx | trim) }}
{{- . | nindent 6 }}
{{- end }}
      {{- if .serviceAccountName }}
      serviceAccountName: {{ .serviceAccountName }}
      automountServiceAccountToken: true
      {{- else }}
      automountServiceAccountToken: false
      {{- end }}
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ add $v.preStopSleepSeconds 30 }}
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      {{- with (include "todo-chatbot.scheduling" $v | trim) }}
{{- . | nindent 6 }}
{{- end }}
      containers:
        - name: {{ include "todo-chatbot.componentLabel" (dict "component" .component) }}
          image: {{ include "todo-chatbot.image" (dict "ctx" $ctx "image" $v.image) }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          command:
            {{- toYaml .command | nindent 12 }}
          ports:
            - name: {{ .portName }}
              containerPort: {{ .port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ $name }}
          {{- if or .env $v.extraEnv }}
          env:
            {{- with .env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- end }}
          {{- with (include "todo-chatbot.probes" (dict "values" $v) | trim) }}
{{- . | nindent 10 }}
{{- end }}
          {{- if $v.preStopSleepSeconds }}
          lifecycle:
            # Serve on while the Service stops sending traffic here (EndpointSlice, then every node's
            # kube-proxy), so a rollout or scale-down drops no request; SIGTERM comes after.
            preStop:
              sleep:
                seconds: {{ $v.preStopSleepSeconds }}
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $v.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with .volumeMounts }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
        {{- with .volumes }}
        {{- . | nindent 8 }}
        {{- end }}
{{- end }}
