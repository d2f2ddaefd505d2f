# CoreDNS with the plugins kubeadm's Corefile uses (../tools/coredns); kubeadm's Deployment
# passes only arguments, so the entrypoint is the binary, as in the upstream image.
FROM scratch
COPY coredns /coredns
USER 65532:65532
EXPOSE 53 53/udp
ENTRYPOINT ["/coredns"]
