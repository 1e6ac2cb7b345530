{{/*
Shared named templates. Overlay templates use them so that every extra object is labelled and every
extra pod spec is as conformant as the serving one: a case then differs from minimal-http only in
the one thing it is about.
*/}}

{{/* Labels on every object: the run id and case id are what an inspector searches a cluster for. */}}
{{- define "mini.labels" -}}
nvcf-conformance.io/run-id: {{ required "conformance.runId is stamped in by the chart build" .Values.conformance.runId | quote }}
nvcf-conformance.io/case: {{ required "conformance.caseId is stamped in by the chart build" .Values.conformance.caseId | quote }}
app.kubernetes.io/part-of: nvcf-conformance
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.conformance.deployment }}
nvcf-conformance.io/deployment: {{ . | quote }}
{{- end }}
{{- end }}

{{/* The serving pods: the mini-service Service selects exactly these. */}}
{{- define "mini.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.miniService.name }}
app.kubernetes.io/component: mini-service
{{- end }}

{{/* Labels of a non-serving workload named `.name` (not selected by the mini-service Service). */}}
{{- define "mini.extraSelectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: extra
{{- end }}

{{/* Cluster-scoped objects share one name space across runs, so their names carry run and case. */}}
{{- define "mini.clusterName" -}}
{{- printf "nvcfc-%s-%s" .Values.conformance.runId .Values.conformance.caseId | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{- define "mini.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end }}

{{/*
A pod spec running the probe. Call with a dict:
  root          the chart context (required)
  oneShot       true for Jobs, CronJobs and hooks: run one command and exit (restartPolicy Never)
  command       replaces the image entrypoint
  restartPolicy e.g. OnFailure
  gpus          nvidia.com/gpu added to requests and limits
  env           extra env entries
*/}}
{{- define "mini.podSpec" -}}
{{- include "mini.podSpecLines" . | trim }}
{{- end }}

{{- define "mini.podSpecLines" -}}
{{- $root := .root -}}
{{- $v := $root.Values.miniService -}}
{{- $command := .command -}}
{{- $restartPolicy := .restartPolicy -}}
{{- if .oneShot -}}
{{- $command = list "python" "-c" "print('nvcf-conformance one-shot done')" -}}
{{- $restartPolicy = default "Never" $restartPolicy -}}
{{- end -}}
{{- with $restartPolicy }}
restartPolicy: {{ . }}
{{- end }}
{{- if $v.hostNetwork }}
hostNetwork: true
{{- end }}
{{- if $v.hostPID }}
hostPID: true
{{- end }}
{{- if $v.hostIPC }}
hostIPC: true
{{- end }}
{{- /* Unset unless a case asks: false runs the pod in a user namespace (more isolated, not less). */}}
{{- if not (kindIs "invalid" $v.hostUsers) }}
hostUsers: {{ $v.hostUsers }}
{{- end }}
{{- if not (kindIs "invalid" $v.automountServiceAccountToken) }}
automountServiceAccountToken: {{ $v.automountServiceAccountToken }}
{{- end }}
{{- with $v.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: mini-service
    image: {{ include "mini.image" $root | quote }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    {{- with $command }}
    command:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $v.args }}
    args:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    ports:
      - name: http
        containerPort: {{ $v.httpPort }}
        protocol: TCP
        {{- with $v.hostPort }}
        hostPort: {{ . }}
        {{- end }}
      - name: grpc
        containerPort: {{ $v.grpcPort }}
        protocol: TCP
    env:
      - name: MINI_SERVICE_HTTP_PORT
        value: {{ $v.httpPort | quote }}
      - name: MINI_SERVICE_GRPC_PORT
        value: {{ $v.grpcPort | quote }}
      {{- /* Pod identity through env fieldRef: a downwardAPI *volume* is a forbidden volume type. */}}
      - name: POD_NAME
        valueFrom:
          fieldRef:
            fieldPath: metadata.name
      - name: POD_NAMESPACE
        valueFrom:
          fieldRef:
            fieldPath: metadata.namespace
      - name: NODE_NAME
        valueFrom:
          fieldRef:
            fieldPath: spec.nodeName
      - name: POD_IP
        valueFrom:
          fieldRef:
            fieldPath: status.podIP
      {{- /* Values may hold templates ({{ .Values.x }}), so env can carry rendered chart values. */}}
      {{- range $v.env }}
      - name: {{ .name }}
        {{- if hasKey . "value" }}
        value: {{ tpl (toString .value) $root | quote }}
        {{- else }}
        {{- omit . "name" | toYaml | nindent 8 }}
        {{- end }}
      {{- end }}
      {{- with .env }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- if not $command }}
    readinessProbe:
      httpGet:
        path: /v2/health/ready
        port: http
      periodSeconds: 5
      failureThreshold: 3
    {{- end }}
    {{- $resources := deepCopy (default (dict) $v.resources) }}
    {{- if .gpus }}
    {{- $limits := default (dict) $resources.limits }}
    {{- $requests := default (dict) $resources.requests }}
    {{- $_ := set $limits "nvidia.com/gpu" .gpus }}
    {{- $_ := set $requests "nvidia.com/gpu" .gpus }}
    {{- $_ := set $resources "limits" $limits }}
    {{- $_ := set $resources "requests" $requests }}
    {{- end }}
    {{- with $resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $v.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $v.lifecycle }}
    lifecycle:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $v.volumeMounts }}
    volumeMounts:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- with $v.volumes }}
volumes:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
