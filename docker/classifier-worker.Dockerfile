# syntax=docker/dockerfile:1
# classifier-worker. Build context: the repository root (docker/compose.yaml sets it), e.g.
#   docker build -f docker/classifier-worker.Dockerfile -t ics/classifier-worker .
# Stages: build (the whole workspace, nx build of the apps) -> deps (production node_modules from the
# artifact's own lockfile, optionally the native @tensorflow/tfjs-node) -> runtime (non-root).
# The runtime carries the whole artifact, whatever it holds (the default model included).
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
ENV ONNXRUNTIME_NODE_INSTALL=skip
# TFJS_NODE=try: install the optional native @tensorflow/tfjs-node (its install downloads
# libtensorflow; compilers for its fallback build). TFJS_NODE=skip where that host cannot be
# reached (`npm run images` with the offline base): the worker uses ONNX Runtime or tfjs-wasm.
ARG TFJS_NODE=try
RUN if [ "$TFJS_NODE" = try ]; then apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
  && rm -rf /var/lib/apt/lists/*; fi
COPY --from=build /src/dist/apps/classifier-worker/package.json /src/dist/apps/classifier-worker/package-lock.json ./
# Optional dependencies included; no install script runs but tfjs-node's (deploy/bin/install-app.sh's
# ALLOW_SCRIPTS). If it fails it is removed and the worker uses another backend (TF_BACKEND=auto).
# onnxruntime-node carries binaries for every platform: only this one's is kept.
RUN --mount=type=cache,target=/root/.npm,sharing=locked npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && if [ "$TFJS_NODE" = try ]; then npm rebuild @tensorflow/tfjs-node --foreground-scripts || rm -rf node_modules/@tensorflow/tfjs-node; else rm -rf node_modules/@tensorflow/tfjs-node; fi \
  && (node -e "require('@tensorflow/tfjs-node')" && echo "tfjs-node: installed" || echo "tfjs-node: unavailable, another backend will be used") \
  && keep="linux/$(node -p process.arch)" && for d in node_modules/onnxruntime-node/bin/napi-v*/*/*; do \
    case "$d" in */"$keep") ;; *) rm -rf "$d" ;; esac; done

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/apps/classifier-worker/ ./
COPY docker/healthcheck.cjs /usr/local/lib/healthcheck.cjs
USER node
# Not an HTTP app: healthy when it can reach its launch queue with its own configuration.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/usr/local/lib/healthcheck.cjs", "queue"]
STOPSIGNAL SIGTERM
# The global NODE_IMAGE is out of scope after FROM until declared again (else base.name is empty).
ARG NODE_IMAGE
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ics/classifier-worker" \
  org.opencontainers.image.description="Image classification service: classifies images from the launch queue" \
  org.opencontainers.image.licenses="MIT" \
  org.opencontainers.image.revision="${REVISION}" \
  org.opencontainers.image.base.name="${NODE_IMAGE}"
CMD ["node", "main.js"]
