# syntax=docker/dockerfile:1
# classifier-worker. Build context: the repository root (docker/compose.yaml sets it), e.g.
#   docker build -f docker/classifier-worker.Dockerfile -t ics/classifier-worker .
# Stages: build (the whole workspace, nx build) -> deps (production node_modules from the
# artifact's own lockfile, including the optional native @tensorflow/tfjs-node: the image
# build has internet, so its libtensorflow download works) -> runtime (non-root).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV NX_DAEMON=false NX_NO_CLOUD=true CI=true
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npx nx build classifier-worker --skip-nx-cache

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# Compilers only here, for tfjs-node's fallback build when no prebuilt addon matches.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
  && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/dist/apps/classifier-worker/package.json /src/dist/apps/classifier-worker/package-lock.json ./
# Optional dependencies included, install scripts off but for the allowlist (deploy/bin/install-app.sh's
# ALLOW_SCRIPTS): @tensorflow/tfjs-node downloads libtensorflow here. If that fails it is removed
# and the worker uses the wasm backend (TF_BACKEND=auto).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && (npm rebuild @tensorflow/tfjs-node --foreground-scripts || rm -rf node_modules/@tensorflow/tfjs-node) \
  && (node -e "require('@tensorflow/tfjs-node')" && echo "tfjs-node: installed" || echo "tfjs-node: unavailable, the wasm backend will be used") \
  && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/apps/classifier-worker/ ./
COPY docker/healthcheck.cjs /usr/local/lib/healthcheck.cjs
USER node
# Not an HTTP app: healthy when it can reach its launch queue with its own configuration.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/usr/local/lib/healthcheck.cjs", "queue"]
CMD ["node", "main.js"]
