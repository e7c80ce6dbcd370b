# rustscope container image: the static binary and the CA roots, nothing else.
# Build it with `make docker-build [IMG=rustscope:dev]`: the build context is a
# temporary directory holding rustscope (static, CGO_ENABLED=0, stripped) and
# the host's /etc/ssl/certs/ca-certificates.crt, so no base image and no
# registry is needed.
#
# Run it with the target's PID namespace and the privileges of docs/security.md:
#   docker run --privileged --pid=host \
#     -e OTEL_TARGET_EXE=/app/server -e OTEL_SERVICE_NAME=api \
#     -e OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317 rustscope:dev
# OTEL_TARGET_EXE is the path as the target sees it (inside its own container,
# or on the host). See docs/kubernetes.md.
FROM scratch
# OTLP over TLS verifies the collector against these roots (Go reads this path).
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY rustscope /usr/bin/rustscope
ENTRYPOINT ["/usr/bin/rustscope"]
# No terminal in a container: headless, logs on stderr. Arguments replace it,
# e.g. `docker run ... rustscope:dev list` or `--pid 1234 --stdout`.
CMD ["--headless"]
