# A stand-in for kind's CNI daemon (kindnetd is not served by the Go module proxy): writes the
# CNI configuration kindnetd would write for a single-node cluster (ptp with masquerading, so
# pods reach the host at the kind network gateway; host-local; portmap;
# Debian's CNI plugins in the node image) and stays up like the DaemonSet's pod must.
ARG BASE
FROM ${BASE}
COPY kindnetd.sh /usr/local/bin/kindnetd
RUN chmod 0755 /usr/local/bin/kindnetd
ENTRYPOINT ["/usr/local/bin/kindnetd"]
