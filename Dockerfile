# Multi-stage build: compile with the Rust toolchain, run on a slim Debian as a non-root user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY ct-log ct-log
COPY src src
# Cargo.toml declares the test and bench targets; their sources must exist to load the manifest.
COPY tests tests
COPY benches benches
COPY config config
RUN cargo build --release --locked --bin sigil

# OpenSSL is built into the binary (the openssl crate's `vendored` feature): no libssl here.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/sigil --create-home sigil
COPY --from=build /src/target/release/sigil /usr/local/bin/sigil
COPY config /etc/sigil
WORKDIR /var/lib/sigil
USER sigil
ENV SIGIL_SERVER__LISTEN=0.0.0.0:5555 \
    SIGIL_OIDC__ISSUERS=/etc/sigil/issuers.yaml \
    SIGIL_STORAGE__URL=sqlite:///var/lib/sigil/sigil.db
# Probe GET /healthz (liveness) and GET /readyz (readiness) from the orchestrator.
EXPOSE 5555
ENTRYPOINT ["sigil", "serve"]
CMD ["--config", "/etc/sigil/sigil.toml"]
