"""The Kubernetes executor: one class composed of a workload (Argo or Jobs) and a run tracker."""
