# Two images from one build (docker-compose.yml picks the target):
#   processor  the processor and the mock servers
#   n8n        the pinned n8n with our packed node package installed, the workflow files and the
#              one-shot setup script baked in: main, webhook and worker processes all run it, so
#              every n8n process loads the same nodes (nothing is bind-mounted)
# Node.js 24 (LTS; 20 left support in April 2026), the version the local stack runs n8n on
# (stack/src/n8n/install.ts); the processor also spends less CPU a lead on it (docs/scaling.md)
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY mocks/package.json mocks/
COPY stack/package.json stack/
COPY processor/package.json processor/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
# the node package exactly as users install it: packed, then installed into n8n's nodes folder
RUN npm pack --silent --pack-destination /tmp/pack \
	&& mkdir -p /tmp/n8n-nodes \
	&& cd /tmp/n8n-nodes \
	&& echo '{ "name": "installed-nodes", "private": true }' > package.json \
	&& npm install --no-audit --no-fund --legacy-peer-deps /tmp/pack/n8n-nodes-lead-intake-*.tgz
RUN npm prune --omit=dev

FROM node:24.21.0-bookworm-slim AS processor
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/db db
COPY --from=build /app/mocks/package.json mocks/
COPY --from=build /app/mocks/dist mocks/dist
COPY --from=build /app/processor/package.json processor/
COPY --from=build /app/processor/dist processor/dist
COPY --from=build /app/processor/config processor/config
# the alerts volume starts out owned by the user that writes into it
RUN mkdir /alerts && chown node:node /alerts
USER node
EXPOSE 8000
CMD ["node", "processor/dist/src/main.js"]

FROM n8nio/n8n:2.40.7 AS n8n
USER root
RUN mkdir /alerts && chown node:node /alerts
USER node
COPY --from=build --chown=node:node /tmp/n8n-nodes /home/node/.n8n/nodes
COPY --chown=node:node workflows /opt/lead-intake/workflows
COPY --chown=node:node docker/n8n-setup.sh /opt/lead-intake/n8n-setup.sh
