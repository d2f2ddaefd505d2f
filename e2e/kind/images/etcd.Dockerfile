# etcd for kubeadm's static pod (the control plane's build, ../../controlplane/etcd).
ARG BASE
FROM ${BASE}
COPY etcd /usr/local/bin/etcd
RUN etcd --version
