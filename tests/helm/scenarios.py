"""The installs the docs describe, as the values files a user would write for them: the
scenarios every rendered object is checked in (test_scenarios.py) and the names they share."""

from __future__ import annotations

import json
from typing import Any

from tests.helm.helmkit import (
    MINIMAL,
    merge,
)

#: The docs' per pipeline type scheduling for Argo (a `toleration` string per type).
ARGO_PIPELINE_TYPE_CONFIGS = {
    "automation": {"toleration": "collate-automation", "priorityClass": "collate-high"},
    "metadata": {
        "toleration": "collate-ingestion",
        "nodeSelector": {"collate.io/pool": "ingestion"},
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
    },
    "profiler": {
        "toleration": "collate-profiler",
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "collate.io/pool", "operator": "In", "values": ["big"]}
                            ]
                        }
                    ]
                }
            }
        },
    },
}
#: The docs' per pipeline type scheduling for Kubernetes Jobs (a `tolerations` list per type).
SIMPLEK8S_PIPELINE_TYPE_CONFIGS = {
    "automation": {
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "collate", "effect": "NoSchedule"}
        ]
    },
    "metadata": {
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "collate", "effect": "NoSchedule"}
        ],
        "nodeSelector": {"collate.io/pool": "ingestion"},
        "priorityClass": "collate-batch",
    },
}

ROLE_ARN = "arn:aws:iam::123456789012:role/collate-ingestion-pods"
RUNNER_ROLE_ARN = "arn:aws:iam::123456789012:role/collate-hybrid-runner"
AZURE_CLIENT_ID = "00000000-1111-2222-3333-444444444444"
GKE_SA = "collate-ingestion@acme-data.iam.gserviceaccount.com"
GKE_RUNNER_SA = "collate-runner@acme-data.iam.gserviceaccount.com"

SCENARIOS: dict[str, dict[str, Any]] = {
    "minimal": MINIMAL,
    "aws-irsa": merge(
        MINIMAL,
        {
            "config": {
                "secretsManager": "managed-aws",
                "ingestionPods": {
                    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": ROLE_ARN}}
                },
            },
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": RUNNER_ROLE_ARN}},
            "extraEnvs": [{"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"}],
        },
    ),
    "azure-workload-identity": merge(
        MINIMAL,
        {
            # Pod labels for ingestion pods come from customConfig.workflowParams: Argo only.
            "executor": "argo",
            "config": {
                "secretsManager": "managed-azure-kv",
                "ingestionPods": {
                    "serviceAccount": {
                        "annotations": {"azure.workload.identity/client-id": AZURE_CLIENT_ID}
                    },
                    "customConfig": {
                        "enabled": True,
                        "workflowParams": {
                            "podMetadata": {"labels": {"azure.workload.identity/use": "true"}}
                        },
                    },
                },
            },
            "serviceAccount": {
                "annotations": {"azure.workload.identity/client-id": AZURE_CLIENT_ID}
            },
            "podLabels": {"azure.workload.identity/use": "true"},
            "extraEnvs": [{"name": "AZURE_KEY_VAULT_NAME", "value": "acme-collate-vault"}],
        },
    ),
    "gke-workload-identity": merge(
        MINIMAL,
        {
            "config": {
                "secretsManager": "gcp",
                "ingestionPods": {
                    "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": GKE_SA}}
                },
            },
            "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": GKE_RUNNER_SA}},
            "extraEnvs": [{"name": "GOOGLE_CLOUD_PROJECT", "value": "acme-data"}],
        },
    ),
    "argo-pipeline-type-configs": merge(
        MINIMAL,
        {
            "executor": "argo",
            "extraEnvs": [
                {
                    "name": "ARGO_PIPELINE_TYPE_CONFIGS",
                    "value": json.dumps(ARGO_PIPELINE_TYPE_CONFIGS),
                }
            ],
        },
    ),
    "simplek8s-pipeline-type-configs": merge(
        MINIMAL,
        {
            "executor": "simpleK8s",
            "extraEnvs": [
                {
                    "name": "SIMPLEK8S_PIPELINE_TYPE_CONFIGS",
                    "value": json.dumps(SIMPLEK8S_PIPELINE_TYPE_CONFIGS),
                }
            ],
        },
    ),
    "own-registry": merge(
        MINIMAL,
        {
            "image": {"repository": "registry.acme.internal/collate/hybrid-ingestion-runner"},
            "imagePullSecrets": [{"name": "acme-registry"}],
            "config": {
                "dynamicIngestionVersionEnabled": False,
                "ingestionPods": {
                    "repository": "registry.acme.internal/collate/ingestion",
                    "tag": "om-1.11.1-cl-1.11.1",
                    "imagePullSecrets": "acme-registry",
                },
            },
        },
    ),
    "dynamic-version-off-via-extra-envs": merge(
        MINIMAL,
        {"extraEnvs": [{"name": "DYNAMIC_INGESTION_VERSION_ENABLED", "value": "false"}]},
    ),
    "token-from-existing-secret": {
        "config": {
            "agentId": "collate-hybrid-runner",
            "authTokenSecret": {"name": "collate-bot-token", "key": "jwt"},
            "serverHost": "https://acme.getcollate.io",
        },
    },
    "executor-simplek8s": merge(MINIMAL, {"executor": "simpleK8s"}),
    # As Collate's ROSA values: OpenShift assigns the ids, the ECR helper stays off.
    "openshift": merge(
        MINIMAL,
        {
            "openshift": {"enabled": True},
            "imagePullSecrets": [{"name": "omd-registry-credentials"}],
            "config": {
                "ingestionPods": {
                    "repository": "docker.getcollate.io/openmetadata/collate-base",
                    "tag": "om-1.11.10-cl-1.11.10",
                    "imagePullSecrets": "omd-registry-credentials",
                }
            },
        },
    ),
    "everything-on": merge(
        MINIMAL,
        {
            "executor": "argo",
            "replicaCount": 2,
            "podDisruptionBudget": {"enabled": True},
            "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
            "prometheusRules": {"enabled": True},
            "grafanaDashboard": {"enabled": True},
            "ecrRegistryHelper": {
                "enabled": True,
                "collateCredentials": {
                    "values": {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "ecr-secret"}
                },
            },
            "config": {
                "reconnectDelaySeconds": 5,
                "maxActiveRuns": 10,
                "maxActiveRunsPerType": {"profiler": 2},
                "runTimeoutSeconds": 7200,
                "imagePullGraceSeconds": 300,
                "unschedulableGraceSeconds": 0,
                "argoWorkflows": {"secondsAfterCompletionTTL": 604800},
                "ingestionPods": {
                    "automountSAToken": True,
                    "extraEnvs": ["HTTPS_PROXY=http://proxy.acme:3128", "NO_PROXY:.svc"],
                    "customConfig": {
                        "enabled": True,
                        "workflowParams": {"activeDeadlineSeconds": 7200},
                        "containerParams": {"env": [{"name": "TZ", "value": "UTC"}]},
                    },
                },
            },
        },
    ),
}


#: The ingestion service account's name: Collate's, which IRSA / workload-identity trust
#: policies written for Collate's chart name (`system:serviceaccount:<ns>:ingestion`).
INGESTION_SA = "ingestion"
