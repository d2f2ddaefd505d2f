"""The Docker-free local control plane: build.sh builds it, cluster.py runs it."""
