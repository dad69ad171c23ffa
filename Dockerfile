# qgate in a container: built once (tsc at build time, not at start), run as
# the unprivileged user qgate with its queue, mail and generated certificate in
# the volume /var/lib/qgate and its configuration in /etc/qgate
# (contrib/docker/config.yaml). Logs are JSON lines on stdout.
#   docker build -t qgate . && docker run -p 25:2525 -p 587:2587 -p 465:2465 -p 110:2110 -v qgate:/var/lib/qgate qgate

FROM node:20-bookworm-slim AS build
# fs-ext (the queue lock) is a native addon built at install.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/qgate
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npx tsc -p . && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
RUN groupadd --system qgate \
 && useradd --system --gid qgate --home-dir /var/lib/qgate --no-create-home --shell /usr/sbin/nologin qgate \
 && install -d -o qgate -g qgate -m 0750 /var/lib/qgate
WORKDIR /opt/qgate
COPY --from=build /opt/qgate/package.json ./
COPY --from=build /opt/qgate/node_modules node_modules
COPY --from=build /opt/qgate/bin bin
COPY --from=build /opt/qgate/dist/core dist/core
COPY --from=build /opt/qgate/dist/plugins dist/plugins
COPY contrib/docker/config.yaml /etc/qgate/config.yaml
COPY pipelines /etc/qgate/pipelines
# The pipelines keep the self-signed certificate next to the queue; here that is the volume.
RUN sed -i 's|\.\./var/tls/|/var/lib/qgate/tls/|' /etc/qgate/pipelines/*.yaml \
 && ln -s /opt/qgate/bin/qgate.js /usr/local/bin/qgate
USER qgate
VOLUME ["/var/lib/qgate"]
EXPOSE 2525 2587 2465 2110
# Healthy while the MX listener greets with 220 (one short session, logged like any other).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const s=require('net').connect(2525,'127.0.0.1');s.setTimeout(4000,()=>process.exit(1));s.on('error',()=>process.exit(1));s.once('data',(d)=>{s.end('QUIT\\r\\n');process.exit(/^220 /.test(String(d))?0:1)})"]
# node itself is PID 1 and gets SIGTERM (graceful stop), SIGHUP (reload) and SIGUSR1 directly, not through npm.
ENTRYPOINT ["node", "/opt/qgate/bin/qgate.js"]
CMD ["start", "--config", "/etc/qgate/config.yaml"]
