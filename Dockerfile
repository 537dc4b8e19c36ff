# syntax=docker/dockerfile:1
# meshsign's image: the compiled JavaScript, production dependencies only,
# on a distroless Node.js base (no shell, no package manager), as a non-root
# user. Not built in CI (no container engine runs there); the Kubernetes
# suite applies manifests/ that name it.
#
#   docker build -t meshsign:0.1.0 .

ARG NODE_BUILD_IMAGE=node:20-bookworm-slim
ARG NODE_RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

# 1. Compile TypeScript to dist/ with the full dependency set.
FROM ${NODE_BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# 2. Production dependencies alone.
FROM ${NODE_BUILD_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# 3. Runtime: no src/, so bin/meshsign.js runs dist/cli/main.js.
FROM ${NODE_RUNTIME_IMAGE}
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
ENV NODE_ENV=production
# distroless "nonroot" is uid/gid 65532, matching the Deployment's securityContext.
USER 65532:65532
EXPOSE 6443 6060 9402
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/meshsign.js"]
CMD ["serve", "--mode=kubernetes"]
