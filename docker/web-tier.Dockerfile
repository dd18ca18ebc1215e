# syntax=docker/dockerfile:1
# web-tier. Build context: the repository root (docker/compose.yaml sets it), e.g.
#   docker build -f docker/web-tier.Dockerfile -t ics/web-tier .
# Stages: build (the whole workspace, nx build of the apps) -> deps (production node_modules from
# the artifact's own lockfile) -> runtime (node_modules + the artifact, non-root).
# Base pinned by digest (node 24 on Debian bookworm, slim). Without a registry, `npm run images`
# assembles an equivalent base offline and passes it here as NODE_IMAGE.
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV NX_DAEMON=false NX_NO_CLOUD=true CI=true ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
# The build runs no install scripts: it needs none (the native TF backend is the worker's).
# npm's cache is a cache mount, not part of any layer: every install of every image reuses it.
RUN --mount=type=cache,target=/root/.npm,sharing=locked npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# All four apps in one step, the same in every image's Dockerfile: an engine with a layer cache
# builds the workspace once for all five images instead of once per image.
RUN npx nx run-many -t build -p web-tier,launch-controller,monitor-controller,classifier-worker --skip-nx-cache

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=build /src/dist/apps/web-tier/package.json /src/dist/apps/web-tier/package-lock.json ./
# No install script runs: none of this app's dependencies needs one (@scarf/scarf is telemetry).
RUN --mount=type=cache,target=/root/.npm,sharing=locked npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/apps/web-tier/ ./
COPY docker/healthcheck.cjs /usr/local/lib/healthcheck.cjs
# The node image's unprivileged user (uid 1000); the app files stay root-owned, read-only to it.
USER node
EXPOSE 3000
# One process (node, PID 1), configured only by its environment, logging to stdout; SIGTERM
# (docker stop) closes the app (Nest shutdown hooks) well within docker's 10 s.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["node", "/usr/local/lib/healthcheck.cjs", "http"]
STOPSIGNAL SIGTERM
# The global NODE_IMAGE is out of scope after FROM until declared again (else base.name is empty).
ARG NODE_IMAGE
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ics/web-tier" \
  org.opencontainers.image.description="Image classification service: HTTP uploads, results, SSE, upload page" \
  org.opencontainers.image.licenses="MIT" \
  org.opencontainers.image.revision="${REVISION}" \
  org.opencontainers.image.base.name="${NODE_IMAGE}"
CMD ["node", "main.js"]
