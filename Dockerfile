# lvsd in a container. It manages the host's IPVS table, so run it in the host's network
# namespace with CAP_NET_ADMIN and CAP_NET_RAW:
#   docker build -t lvsd .
#   docker run --network host --cap-add NET_ADMIN --cap-add NET_RAW \
#     -v /etc/lvsd:/etc/lvsd:ro lvsd
# The demo needs none of that:  docker run --rm -p 9410:9410 lvsd demo --listen 0.0.0.0:9410
# Load ip_vs on the host (modprobe ip_vs): a container cannot. State (overrides, alert queues)
# lives in /var/lib/lvsd: mount a volume there (-v lvsd-state:/var/lib/lvsd) to keep it.
FROM node:20-bookworm-slim AS build
# a compiler for the optional native raw-socket package (VRRP)
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
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
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/lvsd && chmod +x /app/dist/src/cli/main.js \
 && mkdir -p /var/lib/lvsd /run/lvsd
VOLUME ["/var/lib/lvsd"]
ENTRYPOINT ["lvsd"]
CMD ["run", "-c", "/etc/lvsd/lvsd.yaml"]
