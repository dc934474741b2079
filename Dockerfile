# One image for every service of ours (edge, core, forecaster); compose/docker-compose.yml picks the command.
# Debian-based official Bun image rather than Alpine: onnxruntime-node ships glibc binaries only.
ARG BUN_VERSION=1.4
FROM oven/bun:${BUN_VERSION} AS deps
WORKDIR /app
COPY package.json bun.lock bunfig.toml ./
# Every workspace's manifest, so the install links each package's own dependencies (docs/ARCHITECTURE.md).
COPY packages/contracts/package.json packages/contracts/
COPY packages/platform/package.json packages/platform/
COPY packages/pulsar/package.json packages/pulsar/
COPY packages/logs/package.json packages/logs/
COPY packages/testing/package.json packages/testing/
COPY edge/package.json edge/
COPY core/package.json core/
COPY ml/package.json ml/
COPY apps/package.json apps/
COPY bench/package.json bench/
# --production: no Biome, TypeScript or test servers in the runtime image.
RUN bun install --frozen-lockfile --production

FROM oven/bun:${BUN_VERSION}
WORKDIR /app
ENV NODE_ENV=production \
    HTTP_HOST=0.0.0.0 \
    LOG_LEVEL=info
COPY --from=deps /app ./
COPY tsconfig.json ./
COPY packages ./packages
COPY core ./core
COPY edge ./edge
COPY ml ./ml
COPY apps ./apps
COPY data/seed ./data/seed
# Writable for the user the services run as: ./data (embedded PGlite when DATABASE_URL is unset, local model
# store when S3_ENDPOINT is unset), so a bare `docker run` works without compose's servers too.
RUN mkdir -p /app/data && chown bun:bun /app/data
USER bun
# Health/metrics ports: edge 9101, core 9102, forecaster 9103 (each service's own *_HTTP_PORT).
EXPOSE 9101 9102 9103
CMD ["bun", "apps/core.ts"]
