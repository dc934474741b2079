# One image for every service of ours (edge, core, forecaster); compose/docker-compose.yml picks the command.
# Debian-based official Bun image rather than Alpine: onnxruntime-node ships glibc binaries only.
ARG BUN_VERSION=1.4
FROM oven/bun:${BUN_VERSION} AS deps
WORKDIR /app
COPY package.json bun.lock bunfig.toml ./
# --production: no Biome, TypeScript or test servers in the runtime image.
RUN bun install --frozen-lockfile --production

FROM oven/bun:${BUN_VERSION}
WORKDIR /app
ENV NODE_ENV=production \
    HTTP_HOST=0.0.0.0 \
    LOG_LEVEL=info
COPY --from=deps /app/node_modules ./node_modules
COPY package.json bun.lock bunfig.toml tsconfig.json ./
COPY lib ./lib
COPY core ./core
COPY edge ./edge
COPY ml ./ml
COPY scripts ./scripts
COPY data/seed ./data/seed
# Writable for the user the services run as: ./data (embedded PGlite when DATABASE_URL is unset, local model
# store when S3_ENDPOINT is unset), so a bare `docker run` works without compose's servers too.
RUN mkdir -p /app/data && chown bun:bun /app/data
USER bun
# Health/metrics ports: edge 9101, core 9102, forecaster 9103 (each service's own *_HTTP_PORT).
EXPOSE 9101 9102 9103
CMD ["bun", "core/cli.ts"]
