# kind's node base image: the root filesystem build.sh made with mmdebstrap (BASE), plus the
# metadata kind's own base image has (systemd as PID 1 in a container).
ARG BASE
FROM ${BASE}
ENV container=docker
# systemd exits on SIGRTMIN+3; SIGTERM would make it re-execute.
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
