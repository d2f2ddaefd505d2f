# Argo Workflows' workflow-controller or argoexec (whichever binary is in the context), on Debian.
# argoexec's init container copies the binary into the pod's shared volume, so it stays one file.
ARG BASE
FROM ${BASE}
COPY * /usr/local/bin/
RUN chmod 0755 /usr/local/bin/*
USER 8737
