# The processor and the mock servers (one image; docker-compose picks the command).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY mocks/package.json mocks/
COPY stack/package.json stack/
COPY processor/package.json processor/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build --workspaces && npm prune --omit=dev

FROM node:20-bookworm-slim
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
USER node
EXPOSE 8000
CMD ["node", "processor/dist/src/main.js"]
