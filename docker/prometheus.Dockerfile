# Prometheus for the Compose "monitoring" profile, from Debian 12's package
# (no other registry: the base is the same local debian:bookworm-slim as
# docker/Dockerfile, made by scripts/docker-base.sh when nothing can be
# pulled). Scrapes the nodes as docker/prometheus.yml says.
#     docker build -f docker/prometheus.Dockerfile -t ringcache-prometheus .
FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o prometheus -g prometheus -m 0750 /var/lib/prometheus
COPY docker/prometheus.yml /etc/prometheus/prometheus.yml
USER prometheus
EXPOSE 9090/tcp
VOLUME ["/var/lib/prometheus"]
ENTRYPOINT ["/usr/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml", \
            "--storage.tsdb.path=/var/lib/prometheus", "--web.listen-address=0.0.0.0:9090"]
