# syntax=docker/dockerfile:1
# ics/local-aws: the local edge (S3 + SQS on 4566, the EC2 stand-in on 4567) with the
# classifier-worker artifact inside, so that the EC2 provider's instances run real workers
# (as processes of this container). Build context: the repository root, e.g.
#   docker build -f docker/local-aws.Dockerfile -t ics/local-aws .
# Stages: build (nx build of the apps, the edge bundled by esbuild) -> deps (the worker's
# production node_modules, as in classifier-worker.Dockerfile) -> runtime (non-root).
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
# --keep-names: the edge finds s3rver's request log by its function's name (s3-request-log.ts),
# which esbuild would otherwise rename where the bundle has that name twice.
RUN npx esbuild tools/images/src/edge/edge-main.ts --bundle --platform=node --target=node20 --keep-names \
  --tsconfig=tsconfig.base.json --outfile=/src/dist/edge/edge-main.js --log-level=warning

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
COPY --from=deps /app/node_modules /opt/worker/node_modules
COPY --from=build /src/dist/apps/classifier-worker/ /opt/worker/
COPY --from=build /src/dist/edge/ ./
COPY docker/healthcheck.cjs /usr/local/lib/healthcheck.cjs
USER node
EXPOSE 4566 4567
# One process: the edge; the instances' workers are its children and stop with it on SIGTERM.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["node", "/usr/local/lib/healthcheck.cjs", "edge"]
STOPSIGNAL SIGTERM
# The global NODE_IMAGE is out of scope after FROM until declared again (else base.name is empty).
ARG NODE_IMAGE
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ics/local-aws" \
  org.opencontainers.image.description="Local edge of the image classification service: S3, SQS and an EC2 stand-in whose instances run classifier workers" \
  org.opencontainers.image.licenses="MIT" \
  org.opencontainers.image.revision="${REVISION}" \
  org.opencontainers.image.base.name="${NODE_IMAGE}"
CMD ["node", "edge-main.js"]
