# syntax=docker/dockerfile:1
# web-tier. Build context: the repository root (docker/compose.yaml sets it), e.g.
#   docker build -f docker/web-tier.Dockerfile -t ics/web-tier .
# Stages: build (the whole workspace, nx build) -> deps (production node_modules from
# the artifact's own lockfile) -> runtime (node_modules + the artifact, non-root).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV NX_DAEMON=false NX_NO_CLOUD=true CI=true
COPY package.json package-lock.json ./
# The build runs no install scripts: it needs none (the native TF backend is the worker's).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npx nx build web-tier --skip-nx-cache

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=build /src/dist/apps/web-tier/package.json /src/dist/apps/web-tier/package-lock.json ./
# No install script runs: none of this app's dependencies needs one (@scarf/scarf is telemetry).
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/apps/web-tier/ ./
COPY docker/healthcheck.cjs /usr/local/lib/healthcheck.cjs
# The node image's unprivileged user (uid 1000); the app files stay root-owned, read-only to it.
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["node", "/usr/local/lib/healthcheck.cjs", "http"]
CMD ["node", "main.js"]
