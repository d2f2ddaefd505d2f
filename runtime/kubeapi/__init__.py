"""The Kubernetes API beneath the executors and the Kubernetes secret store: REST plumbing and RBAC
rules as data."""
