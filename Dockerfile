# lvsd in a container. It manages the host's IPVS table, so run it in the host's network
# namespace with CAP_NET_ADMIN and CAP_NET_RAW:
#   docker build -t lvsd .
#   docker run --network host --cap-add NET_ADMIN --cap-add NET_RAW \
#     -v /etc/lvsd:/etc/lvsd:ro lvsd
# The demo needs none of that:  docker run --rm -p 9410:9410 lvsd demo --listen 0.0.0.0:9410
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src src
COPY checks checks
COPY config config
COPY test test
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends fping iputils-ping ipvsadm iproute2 iputils-arping \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/config config
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/lvsd && chmod +x /app/dist/src/cli/main.js
ENTRYPOINT ["lvsd"]
CMD ["run", "-c", "/etc/lvsd/lvsd.yaml"]
