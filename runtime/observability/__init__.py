"""What an operator reads: Prometheus metrics, logs and the audit trail."""
