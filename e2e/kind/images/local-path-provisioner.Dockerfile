# Rancher's local-path-provisioner, kind's default StorageClass (kind's manifest runs it by name).
ARG BASE
FROM ${BASE}
COPY local-path-provisioner /usr/bin/local-path-provisioner
