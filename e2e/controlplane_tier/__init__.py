"""The local-control-plane tier: the runner against a real kube-apiserver, etcd, kwok and Argo's
controller, no Docker (fixture ``cluster``; built by ``bash e2e/controlplane/build.sh``)."""
