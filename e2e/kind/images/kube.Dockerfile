# kube-apiserver, kube-controller-manager, kube-scheduler and kube-proxy for the kind node image:
# one Debian image holding the multi-call binary (../../controlplane/kube), tagged under each
# component's registry.k8s.io name. kubeadm's static pods run the component by name (PATH).
ARG BASE
FROM ${BASE}
COPY kube /usr/local/bin/kube
RUN for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do \
      ln -s kube "/usr/local/bin/$c"; done \
 && kube-apiserver --version
