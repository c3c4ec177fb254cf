# syntax=docker/dockerfile:1
# Airlock image: operator + admission webhook + agent proxy in one Node.js 24 process.
#
#   docker build -t <registry>/airlock:0.1.0 .
#
# Base images are build arguments so a release pipeline can pin them by digest
# (--build-arg NODE_IMAGE=node:24.21.0-bookworm-slim@sha256:...). Never use a `latest` tag.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# ---- build: full dependency tree, compile TypeScript to dist/
FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV NODE_ENV=development npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && test -f dist/src/main/index.js

# ---- deps: production dependencies only (no compilers, no test tools)
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
ENV NODE_ENV=production npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

# ---- runtime: distroless Node.js 24, no shell, no package manager, non-root
FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production TMPDIR=/tmp
# Everything the process needs is owned by root and read-only to it; it writes only to /tmp and to the
# recordings volume (mount both; the chart uses a readOnlyRootFilesystem).
COPY --from=deps --chown=0:0 /src/package.json ./package.json
COPY --from=deps --chown=0:0 /src/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/dist/src ./dist/src
COPY --chown=0:0 crds ./crds
USER 65532:65532
# proxy, webhook, metrics, health
EXPOSE 8443 9443 8080 8081
ENTRYPOINT ["/nodejs/bin/node", "dist/src/main/index.js"]
