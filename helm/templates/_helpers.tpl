{{/*
Names. Every resource is named after the release's full name, so two releases in one namespace
never collide.
*/}}
{{- define "hir.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hir.fullname" -}}
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

{{/* "<fullname>-<suffix>", shortening the full name so the result stays within 63 characters. */}}
{{- define "hir.suffixed" -}}
{{- $full := include "hir.fullname" .ctx }}
{{- $room := sub 62 (len .suffix) | int }}
{{- printf "%s-%s" ($full | trunc $room | trimSuffix "-") .suffix }}
{{- end }}

{{/* Namespace of every object (namespaceOverride, as Collate's chart reads it). */}}
{{- define "hir.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{/* Namespace of ingestion Workflows/Jobs, their pods, service account and Roles. */}}
{{- define "hir.ingestionNamespace" -}}
{{- default (include "hir.namespace" .) .Values.config.ingestionPods.namespace }}
{{- end }}

{{/* A value given as a boolean or as Collate's string form ("true"): "true", "false" or "". */}}
{{- define "hir.bool" -}}
{{- if kindIs "bool" . }}{{ ternary "true" "false" . }}
{{- else if kindIs "string" . }}{{ if eq (lower .) "true" }}true{{ else if eq (lower .) "false" }}false{{ end }}
{{- end }}
{{- end }}

{{- define "hir.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hir.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hir.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hir.labels" -}}
helm.sh/chart: {{ include "hir.chart" . }}
{{ include "hir.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hybrid-ingestion-runner
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "hir.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hir.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hir.ingestionServiceAccountName" -}}
{{- $sa := .Values.config.ingestionPods.serviceAccount }}
{{- if $sa.create }}
{{- default "ingestion" $sa.name }}
{{- else }}
{{- required "config.ingestionPods.serviceAccount.name is required when its create is false" $sa.name }}
{{- end }}
{{- end }}

{{/* argo or simpleK8s: `executor`, else what Collate's chart infers from the Argo settings. */}}
{{- define "hir.executor" -}}
{{- if .Values.executor }}
{{- .Values.executor }}
{{- else if or .Values.installArgoWorkflows .Values.config.argoWorkflows.endpoint }}
{{- "argo" }}
{{- else }}
{{- "simpleK8s" }}
{{- end }}
{{- end }}

{{/*
Server URLs from config.serverHost ("acme.getcollate.io" or "https://acme.getcollate.io"):
SERVER_URL = wss://<host> (as Collate's chart derives it), SERVER_HOST_API_URL = https://<host>/api.
An http:// host gives ws:// and http:// (local use; the runner also wants ALLOW_INSECURE_WS=true).
*/}}
{{- define "hir.serverHost" -}}
{{- $raw := required "config.serverHost is required (e.g. acme.getcollate.io)" .Values.config.serverHost | trim | trimSuffix "/" }}
{{- $raw | trimPrefix "https://" | trimPrefix "http://" }}
{{- end }}

{{- define "hir.serverInsecure" -}}
{{- if or (hasPrefix "http://" (.Values.config.serverHost | trim)) (eq (include "hir.bool" .Values.config.useSecureProtocols) "false") }}true{{ end }}
{{- end }}

{{- define "hir.serverUrl" -}}
{{- if .Values.config.serverUrl }}
{{- .Values.config.serverUrl }}
{{- else }}
{{- printf "%s://%s" (ternary "ws" "wss" (eq (include "hir.serverInsecure" .) "true")) (include "hir.serverHost" .) }}
{{- end }}
{{- end }}

{{- define "hir.serverHostApiUrl" -}}
{{- printf "%s://%s/api" (ternary "http" "https" (eq (include "hir.serverInsecure" .) "true")) (include "hir.serverHost" .) }}
{{- end }}

{{/* The Secret and key holding AUTH_TOKEN. */}}
{{/* As in Collate's chart, `authToken` wins and `authTokenSecret` is used when it is empty. */}}
{{- define "hir.authSecretName" -}}
{{- if .Values.config.authToken }}
{{- include "hir.fullname" . }}
{{- else }}
{{- .Values.config.authTokenSecret.name }}
{{- end }}
{{- end }}

{{- define "hir.authSecretKey" -}}
{{- if .Values.config.authToken }}
{{- "authToken" }}
{{- else }}
{{- .Values.config.authTokenSecret.key }}
{{- end }}
{{- end }}

{{/*
The token reaches the runner as a file (AUTH_TOKEN_FILE) from the token Secret mounted as a
directory: the kubelet refreshes a secret volume (not a subPath mount), and the runner reads the
file at every reconnect, so a rotated Secret is used without a restart. A user's own
AUTH_TOKEN in `extraEnvs` keeps working: then nothing is mounted and AUTH_TOKEN_FILE not set
(the runner would prefer the file).
*/}}
{{- define "hir.tokenDir" -}}
/etc/hybrid-runner/token
{{- end }}

{{- define "hir.tokenFromFile" -}}
{{- $user := list }}
{{- range .Values.extraEnvs }}{{ $user = append $user .name }}{{ end }}
{{- if and (include "hir.authSecretName" .) (not (has "AUTH_TOKEN" $user)) }}true{{ end }}
{{- end }}

{{/* The server's CA bundle (SERVER_CA_FILE): config.serverCA in a ConfigMap of the chart, or
config.serverCAConfigMap; mounted as a directory at hir.serverCADir, file ca.crt. */}}
{{- define "hir.serverCADir" -}}
/etc/hybrid-runner/server-ca
{{- end }}

{{- define "hir.serverCAVolume" -}}
{{- $c := .Values.config }}
{{- if $c.serverCA }}
configMap:
  name: {{ include "hir.suffixed" (dict "ctx" . "suffix" "server-ca") }}
{{- else if $c.serverCAConfigMap.name }}
configMap:
  name: {{ $c.serverCAConfigMap.name }}
  items:
    - key: {{ $c.serverCAConfigMap.key }}
      path: ca.crt
{{- end }}
{{- end }}

{{/* A value given as a list or as a comma-separated string: the string. */}}
{{- define "hir.csv" -}}
{{- if kindIs "slice" . }}{{ join "," . }}{{ else }}{{ . | default "" | trim }}{{ end }}
{{- end }}

{{/* The docker-registry Secret the ECR helper maintains. */}}
{{- /*
`pullSecretName`, else the first pull secret the ingestion pods are given (a Collate values file
names `omd-registry-credentials` there, which Collate's helper maintains), else
`<fullname>-registry`.
*/}}
{{- define "hir.ecrPullSecretName" -}}
{{- $given := .Values.config.ingestionPods.imagePullSecrets }}
{{- if kindIs "string" $given }}{{ $given = splitList "," $given }}{{ end }}
{{- $first := "" }}
{{- range $given }}{{ if and (not $first) (trim .) }}{{ $first = trim . }}{{ end }}{{ end }}
{{- .Values.ecrRegistryHelper.pullSecretName | default $first | default (include "hir.suffixed" (dict "ctx" . "suffix" "registry")) }}
{{- end }}

{{- define "hir.ecrServiceAccountName" -}}
{{- if .Values.ecrRegistryHelper.serviceAccount.create }}
{{- default (include "hir.suffixed" (dict "ctx" . "suffix" "ecr")) .Values.ecrRegistryHelper.serviceAccount.name }}
{{- else }}
{{- required "ecrRegistryHelper.serviceAccount.name is required when its create is false" .Values.ecrRegistryHelper.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Ingestion pods' pull secrets as a comma-separated string. */}}
{{- define "hir.ingestionPullSecrets" -}}
{{- $secrets := .Values.config.ingestionPods.imagePullSecrets }}
{{- if kindIs "slice" $secrets }}
{{- join "," $secrets }}
{{- else if $secrets }}
{{- $secrets }}
{{- else if .Values.ecrRegistryHelper.enabled }}
{{- include "hir.ecrPullSecretName" . }}
{{- end }}
{{- end }}

{{/* Ingestion pods' extra env as a JSON object (INGESTION_EXTRA_ENVS accepts one). */}}
{{- define "hir.ingestionExtraEnvs" -}}
{{- $in := .Values.config.ingestionPods.extraEnvs }}
{{- if kindIs "string" $in }}
{{- /* One string, as Collate's Terraform writes it; "[A:1,B:2]" as Collate's chart renders it. */}}
{{- $in = splitList "," ($in | trimPrefix "[" | trimSuffix "]") }}
{{- end }}
{{- $out := dict }}
{{- if kindIs "map" $in }}
{{- range $k, $v := $in }}
{{- $_ := set $out $k (toString $v) }}
{{- end }}
{{- else }}
{{- range $in }}
{{- if trim . }}
{{- $kv := regexSplit "[=:]" (trim .) 2 }}
{{- if ne (len $kv) 2 }}
{{- fail (printf "config.ingestionPods.extraEnvs: %q is not KEY=VALUE" .) }}
{{- end }}
{{- $_ := set $out (index $kv 0 | trim) (index $kv 1) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $out }}{{ toJson $out }}{{ end }}
{{- end }}

{{/*
RBAC rules. These MUST equal runtime/permissions.py (rules_for / ingestion_rules_for):
tests/helm compares them for every executor and secrets manager.
*/}}
{{- define "hir.runnerRules" -}}
{{- $executor := include "hir.executor" . }}
{{- if eq $executor "argo" }}
- apiGroups: ["argoproj.io"]
  resources: ["workflows", "cronworkflows"]
  verbs: ["create", "get", "list", "watch", "patch", "delete"]
{{- else if eq $executor "simpleK8s" }}
- apiGroups: ["batch"]
  resources: ["jobs", "cronjobs"]
  verbs: ["create", "get", "list", "watch", "patch", "delete"]
{{- end }}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list", "watch"]
{{- /* The runs' config Secrets: written, never read (no get, list or patch). */}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "update"]
{{- include "hir.secretReadRule" . }}
{{- end }}

{{- define "hir.ingestionRules" -}}
{{- if eq (include "hir.executor" .) "argo" }}
- apiGroups: ["argoproj.io"]
  resources: ["workflowtaskresults"]
  verbs: ["create", "patch"]
{{- end }}
{{- include "hir.secretReadRule" . }}
{{- end }}

{{/*
The kubernetes store's reads (the runner's preflight, OpenMetadata in the pods): `get` on exactly
the Secrets in config.allowedSecretReferences (resourceNames); a pattern with a wildcard grants
the namespace's Secrets (RBAC cannot grant by prefix; hir.validate then wants ingestion in a
namespace of its own); nothing listed, nothing granted.
*/}}
{{- define "hir.secretReadRule" -}}
{{- $allowed := .Values.config.allowedSecretReferences | default list }}
{{- if and (eq .Values.config.secretsManager "kubernetes") $allowed }}
- apiGroups: [""]
  resources: ["secrets"]
  {{- if not (include "hir.secretWildcard" .) }}
  resourceNames: {{ $allowed | uniq | toJson }}
  {{- end }}
  verbs: ["get"]
{{- end }}
{{- end }}

{{- define "hir.secretWildcard" -}}
{{- range .Values.config.allowedSecretReferences | default list }}{{ if regexMatch "[*?\\[]" . }}true{{ end }}{{ end }}
{{- end }}

{{/* Mount point of customConfig in the runner pod. */}}
{{- define "hir.customConfigDir" -}}
/etc/hybrid-runner/custom
{{- end }}

{{/*
The runner's environment: only names from runtime/settings.py VARIABLES. A name given in
`extraEnvs` replaces the chart's own entry (no duplicate names in the container).
*/}}
{{- define "hir.env" -}}
{{- $v := .Values }}
{{- $c := .Values.config }}
{{- $p := .Values.config.ingestionPods }}
{{- $env := list }}
{{- $env = append $env (dict "name" "AGENT_ID" "value" (required "config.agentId is required" $c.agentId)) }}
{{- if include "hir.tokenFromFile" . }}
{{- $env = append $env (dict "name" "AUTH_TOKEN_FILE" "value" (printf "%s/token" (include "hir.tokenDir" .))) }}
{{- end }}
{{- $env = append $env (dict "name" "SERVER_URL" "value" (include "hir.serverUrl" .)) }}
{{- $env = append $env (dict "name" "SERVER_HOST_API_URL" "value" (include "hir.serverHostApiUrl" .)) }}
{{- if eq (include "hir.serverInsecure" .) "true" }}
{{- /* The runner refuses a plain-text WebSocket unless told this is meant. */}}
{{- $env = append $env (dict "name" "ALLOW_INSECURE_WS" "value" "true") }}
{{- end }}
{{- if include "hir.serverCAVolume" . }}
{{- $env = append $env (dict "name" "SERVER_CA_FILE" "value" (printf "%s/ca.crt" (include "hir.serverCADir" .))) }}
{{- end }}
{{- with $v.proxy }}
{{- if .httpsProxy }}{{ $env = append $env (dict "name" "HTTPS_PROXY" "value" .httpsProxy) }}{{ end }}
{{- if .httpProxy }}{{ $env = append $env (dict "name" "HTTP_PROXY" "value" .httpProxy) }}{{ end }}
{{- with include "hir.csv" .noProxy }}{{ $env = append $env (dict "name" "NO_PROXY" "value" .) }}{{ end }}
{{- if .existingSecret }}
{{- /* The runner's own credentials, and the Secret's name for the ingestion pods' secretKeyRef. */}}
{{- $env = append $env (dict "name" "PROXY_USERNAME" "valueFrom" (dict "secretKeyRef" (dict "name" .existingSecret "key" "username"))) }}
{{- $env = append $env (dict "name" "PROXY_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" .existingSecret "key" "password"))) }}
{{- $env = append $env (dict "name" "PROXY_CREDENTIALS_SECRET" "value" .existingSecret) }}
{{- end }}
{{- with include "hir.csv" .serviceCIDR }}{{ $env = append $env (dict "name" "KUBERNETES_SERVICE_CIDR" "value" .) }}{{ end }}
{{- if eq (include "hir.bool" .ingestionPods) "false" }}
{{- $env = append $env (dict "name" "INGESTION_PROXY_ENABLED" "value" "false") }}
{{- end }}
{{- end }}
{{- if ne (toString ($c.reconnectDelaySeconds | default "")) "" }}
{{- $env = append $env (dict "name" "RECONNECT_DELAY_SECONDS" "value" (toString $c.reconnectDelaySeconds)) }}
{{- end }}
{{- range $key, $name := dict "maxActiveRuns" "MAX_ACTIVE_RUNS" "runTimeoutSeconds" "RUN_TIMEOUT_SECONDS" "imagePullGraceSeconds" "IMAGE_PULL_GRACE_SECONDS" "unschedulableGraceSeconds" "UNSCHEDULABLE_GRACE_SECONDS" }}
{{- $value := get $c $key }}
{{- if not (kindIs "invalid" $value) }}
{{- $env = append $env (dict "name" $name "value" ($value | int64 | toString)) }}
{{- end }}
{{- end }}
{{- with $c.maxActiveRunsPerType }}
{{- $env = append $env (dict "name" "MAX_ACTIVE_RUNS_PER_TYPE" "value" (toJson .)) }}
{{- end }}
{{- $env = append $env (dict "name" "EXECUTOR_TYPE" "value" (include "hir.executor" .)) }}
{{- $env = append $env (dict "name" "SECRETS_MANAGER" "value" $c.secretsManager) }}
{{- with include "hir.bool" $c.dynamicIngestionVersionEnabled }}
{{- $env = append $env (dict "name" "DYNAMIC_INGESTION_VERSION_ENABLED" "value" .) }}
{{- end }}
{{- $env = append $env (dict "name" "INGESTION_NAMESPACE" "value" (include "hir.ingestionNamespace" .)) }}
{{- if eq (include "hir.bool" $p.disableVersionValidation) "true" }}
{{- $env = append $env (dict "name" "INGESTION_DISABLE_VERSION_VALIDATION" "value" "true") }}
{{- end }}
{{- with $p.additionalPipelineConfigs }}
{{- $name := ternary "ARGO_PIPELINE_TYPE_CONFIGS" "SIMPLEK8S_PIPELINE_TYPE_CONFIGS" (eq (include "hir.executor" $) "argo") }}
{{- $env = append $env (dict "name" $name "value" (ternary . (toJson .) (kindIs "string" .))) }}
{{- end }}
{{- if $p.repository }}
{{- $image := $p.repository }}
{{- if $p.tag }}{{ $image = printf "%s:%s" $p.repository $p.tag }}{{ end }}
{{- $env = append $env (dict "name" "INGESTION_IMAGE" "value" $image) }}
{{- end }}
{{- with $p.allowedImages }}
{{- $env = append $env (dict "name" "INGESTION_ALLOWED_IMAGES" "value" (join "," .)) }}
{{- end }}
{{- if eq (include "hir.bool" $p.requireImageDigest) "true" }}
{{- $env = append $env (dict "name" "INGESTION_IMAGE_DIGEST_REQUIRED" "value" "true") }}
{{- end }}
{{- with $c.allowedSecretReferences }}
{{- $env = append $env (dict "name" "SECRETS_ALLOWED_REFERENCES" "value" (join "," .)) }}
{{- end }}
{{- $env = append $env (dict "name" "INGESTION_SERVICE_ACCOUNT_NAME" "value" (include "hir.ingestionServiceAccountName" .)) }}
{{- with include "hir.ingestionPullSecrets" . }}
{{- $env = append $env (dict "name" "INGESTION_IMAGE_PULL_SECRETS" "value" .) }}
{{- end }}
{{- $automount := include "hir.bool" $p.automountSAToken | default (include "hir.bool" $p.autoMountSAToken) }}
{{- with $automount }}
{{- $env = append $env (dict "name" "INGESTION_AUTOMOUNT_SA_TOKEN" "value" .) }}
{{- end }}
{{- with include "hir.ingestionExtraEnvs" . }}
{{- $env = append $env (dict "name" "INGESTION_EXTRA_ENVS" "value" .) }}
{{- $vault := get (fromJson .) "AZURE_KEY_VAULT_NAME" }}
{{- if $vault }}
{{- /* Collate's docs give the vault in the pods' env; the runner's preflight needs it too. */}}
{{- $env = append $env (dict "name" "AZURE_KEY_VAULT_NAME" "value" $vault) }}
{{- end }}
{{- end }}
{{- $sc := $p.securityContext | default dict }}
{{- range list (list "runAsUser" "INGESTION_RUN_AS_USER") (list "runAsGroup" "INGESTION_RUN_AS_GROUP") (list "fsGroup" "INGESTION_FS_GROUP") }}
{{- $id := get $sc (index . 0) }}
{{- /* Empty tells the runner to set no id: on OpenShift (it assigns them) and for a null value. */}}
{{- $value := "" }}
{{- if and (not $v.openshift.enabled) (not (kindIs "invalid" $id)) (ne (toString $id) "") }}
{{- $value = $id | int64 | toString }}
{{- end }}
{{- $env = append $env (dict "name" (index . 1) "value" $value) }}
{{- end }}
{{- if not (kindIs "invalid" $sc.runAsNonRoot) }}
{{- $env = append $env (dict "name" "INGESTION_RUN_AS_NON_ROOT" "value" (toString $sc.runAsNonRoot)) }}
{{- end }}
{{- range $kind, $prefix := dict "resources" "INGESTION" "automationResources" "INGESTION_AUTOMATION_WORKFLOW" }}
{{- $r := get $p $kind | default dict }}
{{- range $bound, $suffix := dict "limits" "LIMIT" "requests" "REQUEST" }}
{{- $b := get $r $bound | default dict }}
{{- range $res := list "cpu" "memory" }}
{{- with get $b $res }}
{{- $env = append $env (dict "name" (printf "%s_%s_%s" $prefix (upper $res) $suffix) "value" (toString .)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if $p.customConfig.enabled }}
{{- if $p.customConfig.workflowParams }}
{{- $env = append $env (dict "name" "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH" "value" (printf "%s/workflow-params.yaml" (include "hir.customConfigDir" .))) }}
{{- end }}
{{- if $p.customConfig.containerParams }}
{{- $env = append $env (dict "name" "ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH" "value" (printf "%s/container-params.yaml" (include "hir.customConfigDir" .))) }}
{{- end }}
{{- end }}
{{- if ne (toString ($c.argoWorkflows.secondsAfterCompletionTTL | default "")) "" }}
{{- $env = append $env (dict "name" "ARGO_SECONDS_AFTER_COMPLETION_TTL" "value" ($c.argoWorkflows.secondsAfterCompletionTTL | int64 | toString)) }}
{{- end }}
{{- $env = append $env (dict "name" "SHUTDOWN_GRACE_SECONDS" "value" (toString (sub (int $v.terminationGracePeriodSeconds) 15))) }}
{{- $env = append $env (dict "name" "STATE_DIR" "value" "/var/lib/hybrid-runner") }}
{{- $env = append $env (dict "name" "METRICS_SERVER_PORT" "value" ($v.metricsServerConfiguration.port | int64 | toString)) }}
{{- $env = append $env (dict "name" "METRICS_SERVER_PATH" "value" $v.metricsServerConfiguration.path) }}
{{- $env = append $env (dict "name" "LOG_LEVEL" "value" $v.logging.level) }}
{{- $env = append $env (dict "name" "LOG_FORMAT" "value" $v.logging.format) }}
{{- $user := dict }}
{{- range $v.extraEnvs }}{{ $_ := set $user .name true }}{{ end }}
{{- $out := list }}
{{- range $env }}{{ if not (hasKey $user .name) }}{{ $out = append $out . }}{{ end }}{{ end }}
{{- toYaml (concat $out $v.extraEnvs) }}
{{- end }}

{{/* Fail early on combinations the runner would refuse at start-up. */}}
{{- define "hir.validate" -}}
{{- if and .Values.installArgoWorkflows (not (hasKey (.Subcharts | default dict) "argoWorkflows")) }}
{{- fail "installArgoWorkflows is true but this chart does not bundle the argo-workflows chart: install Argo Workflows first and set executor: argo, or bundle it (helm/README.md, \"Argo Workflows (optional)\": uncomment the dependency in Chart.yaml, then run helm dependency update)" }}
{{- end }}
{{- $userEnv := list }}
{{- range .Values.extraEnvs }}{{ $userEnv = append $userEnv .name }}{{ end }}
{{- if and (not .Values.config.authToken) (not .Values.config.authTokenSecret.name) (not (has "AUTH_TOKEN" $userEnv)) (not (has "AUTH_TOKEN_FILE" $userEnv)) }}
{{- fail "set config.authToken or config.authTokenSecret.name (an existing Secret with the bot JWT)" }}
{{- end }}
{{- if and .Values.config.serverCA .Values.config.serverCAConfigMap.name }}
{{- fail "config.serverCA and config.serverCAConfigMap.name are two ways to give the server's CA: set one" }}
{{- end }}
{{- if has .Values.config.secretsManager (list "managed-azure-kv" "azure-kv") }}
{{- $names := list }}
{{- range .Values.extraEnvs }}{{ $names = append $names .name }}{{ end }}
{{- with include "hir.ingestionExtraEnvs" . }}{{ $names = concat $names (keys (fromJson .)) }}{{ end }}
{{- if not (has "AZURE_KEY_VAULT_NAME" $names) }}
{{- fail (printf "config.secretsManager=%s needs AZURE_KEY_VAULT_NAME in config.ingestionPods.extraEnvs (as Collate's docs write it: \"AZURE_KEY_VAULT_NAME:<vault>\") or in extraEnvs" .Values.config.secretsManager) }}
{{- end }}
{{- end }}
{{- $p := .Values.config.ingestionPods }}
{{- $automount := include "hir.bool" $p.automountSAToken | default (include "hir.bool" $p.autoMountSAToken) }}
{{- if and (eq $automount "false") (eq .Values.config.secretsManager "kubernetes") }}
{{- fail "config.ingestionPods.automountSAToken is false but config.secretsManager is kubernetes: OpenMetadata's Kubernetes secrets manager reads the pod's service account token at the start of every run, so every run would fail; keep the token mounted or use a cloud store" }}
{{- end }}
{{- if and (eq .Values.config.secretsManager "kubernetes") (include "hir.secretWildcard" .) (eq (include "hir.ingestionNamespace" .) (include "hir.namespace" .)) }}
{{- fail "config.allowedSecretReferences has a wildcard, so ingestion pods would read every Secret of their namespace, and that is this release's namespace (the runner's token, Helm's release record): list exact Secret names, or run ingestion in a namespace of its own (config.ingestionPods.namespace)" }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- $isc := .Values.config.ingestionPods.securityContext | default dict }}
{{- if and (not .Values.openshift.enabled) (ne (toString $isc.runAsNonRoot) "false") (not (kindIs "invalid" $isc.runAsUser)) (eq (toString $isc.runAsUser) "0") }}
{{- fail "config.ingestionPods.securityContext: runAsUser 0 (root) contradicts runAsNonRoot true, and the kubelet would refuse every ingestion pod; for an image that needs root set runAsNonRoot: false too" }}
{{- end }}
{{- if lt (int .Values.terminationGracePeriodSeconds) 20 }}
{{- fail "terminationGracePeriodSeconds must be at least 20 (the runner drains for it minus 15)" }}
{{- end }}
{{- end }}

{{/*
The runner pod's and container's security contexts: on OpenShift without fixed ids, which its
restricted SCC assigns from the namespace's range (and refuses when they lie outside it).
*/}}
{{- define "hir.podSecurityContext" -}}
{{- $sc := .Values.podSecurityContext | default dict }}
{{- if .Values.openshift.enabled }}
{{- $sc = omit $sc "runAsUser" "runAsGroup" "fsGroup" }}
{{- end }}
{{- toYaml $sc }}
{{- end }}

{{- define "hir.containerSecurityContext" -}}
{{- $sc := .Values.securityContext | default dict }}
{{- if .Values.openshift.enabled }}
{{- $sc = omit $sc "runAsUser" "runAsGroup" }}
{{- end }}
{{- toYaml $sc }}
{{- end }}

{{/*
A runner probe: /healthz or /readyz on the runner's HTTP port with the timings from values; a
handler given in values (httpGet, tcpSocket, exec, grpc) replaces the runner's own.
*/}}
{{- define "hir.probe" -}}
{{- $probe := .probe | default dict }}
{{- $own := pick $probe "httpGet" "tcpSocket" "exec" "grpc" }}
{{- if not $own }}
httpGet:
  path: {{ .path }}
  port: metrics
{{- end }}
{{ toYaml $probe }}
{{- end }}
