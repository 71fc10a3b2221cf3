# mcp-gateway container image.
#   docker build -t mcp-gateway .
#   docker run -p 8080:8080 -v "$PWD/config:/etc/mcp-gateway:ro" mcp-gateway   # config/gateway.toml
# The runtime image holds the binary, CA certificates and a C library, nothing else: stdio
# upstreams that need Node.js or Python (npx, uvx) need an image derived from one that has them
# (see README "Run it in Kubernetes").

# The rustc that wrote deploy/mcp-gateway.order (its first line): symbol names depend on it.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY deploy/mcp-gateway.order ./deploy/
COPY src ./src
COPY bench ./bench
COPY benches ./benches
COPY tests ./tests
# `dist` = release + fat LTO, linked in the order of deploy/mcp-gateway.order (build.rs): what
# the benchmarks measure.
RUN cargo build --profile dist --locked --bin mcp-gateway

# Distroless: no shell, no package manager, runs as uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/dist/mcp-gateway /usr/local/bin/mcp-gateway
COPY deploy/docker/gateway.toml /etc/mcp-gateway/gateway.toml
# Listen on every interface inside the container (the Host allow-list is then off: put
# server.allowed_hosts in the config when clients reach the gateway by name).
ENV GATEWAY_SERVER__HOST=0.0.0.0
EXPOSE 8080
USER 65532:65532
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/mcp-gateway", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/mcp-gateway"]
CMD ["run", "--config", "/etc/mcp-gateway/gateway.toml"]
