# The pod sandbox ("pause") image: Kubernetes' pause.c, linked statically.
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
