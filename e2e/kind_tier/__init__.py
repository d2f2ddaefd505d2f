"""The kind tier: the runner installed with the Helm chart on a kind cluster with real pods
(fixture ``kube``, marker ``kind``; built by ``bash e2e/kind/build.sh``)."""
