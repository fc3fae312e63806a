# spotsched container image: the scheduler daemon, as a non-root user (uid 10001).
#
#   docker build -t spotsched .
#   docker run -d --name spotsched --stop-timeout 90 \
#       -v /srv/spotsched/etc:/etc/spotsched:ro \
#       -v spotsched-state:/var/lib/spotsched \
#       -p 127.0.0.1:9464:9464 spotsched
#
# Mounted read-only at /etc/spotsched (both readable by uid 10001):
#   spotsched.toml   the config (the CMD below points at it; SPOTSCHED_CONFIG may name
#                    another path when the CMD is overridden without --config)
#   runpod-api-key   the RunPod API key: CREDENTIALS_DIRECTORY=/etc/spotsched makes the
#                    daemon read it like the systemd credential of the same name.
#                    RUNPOD_API_KEY in the environment takes precedence over it; the
#                    config's api_key_file is used only when this file is absent.
# State (the SQLite database) lives in the volume /var/lib/spotsched.
# Metrics and health: port 9464 (/metrics, /healthz). SIGTERM finishes the current tick
# and exits 0 (allow it time: --stop-timeout); SIGHUP reloads the config and the jobs.
#
# BASE may be any Debian-like image with python3 >= 3.11 and its venv module (with pip):
# tests/ops/test_image_build.py builds FROM a local debootstrap image, offline, with
#   buildah build --build-arg BASE=localhost/spotsched-base:... \
#       --volume "$WHEELHOUSE:/wheelhouse:ro" \
#       --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheelhouse .
# where $WHEELHOUSE holds wheels of every dependency plus setuptools and wheel. With
# docker, put those wheels in ./wheelhouse of the build context instead and pass
# PIP_FIND_LINKS=/src/wheelhouse. Without these build args, stage 1 downloads from the index.
ARG BASE=python:3.11-slim

# ---- Stage 1: the project's wheel and the wheels of all its dependencies ----
FROM ${BASE} AS build
# pip reads these from the environment; the defaults mean "use the index".
ARG PIP_NO_INDEX=0
ARG PIP_FIND_LINKS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN python3 -m venv /opt/build \
    && /opt/build/bin/pip wheel --no-cache-dir --wheel-dir /wheels /src

# ---- Stage 2: the runtime, installed from those wheels only (no network) ----
FROM ${BASE}
LABEL org.opencontainers.image.title="spotsched" \
      org.opencontainers.image.description="Cost-aware spot GPU scheduler daemon for RunPod" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/spotsched/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SPOTSCHED_STATE_DIR=/var/lib/spotsched \
    CREDENTIALS_DIRECTORY=/etc/spotsched \
    SPOTSCHED_METRICS_HOST=0.0.0.0
# SPOTSCHED_METRICS_HOST=0.0.0.0: inside a container the metrics/health server must
# listen on all interfaces to be reachable through a published port (the daemon's own
# default, used under systemd, is 127.0.0.1). Publish it to the host's loopback only
# (-p 127.0.0.1:9464:9464) unless something else must scrape it.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/spotsched \
    && /opt/spotsched/bin/pip install --no-cache-dir --no-index /wheels/*.whl \
    && useradd --uid 10001 --user-group --no-create-home \
        --home-dir /var/lib/spotsched --shell /usr/sbin/nologin spotsched \
    && mkdir -p /var/lib/spotsched /etc/spotsched \
    && chown 10001:10001 /var/lib/spotsched \
    && chmod 0700 /var/lib/spotsched
VOLUME ["/var/lib/spotsched"]
WORKDIR /var/lib/spotsched
USER 10001:10001
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]
ENTRYPOINT ["spotsched"]
CMD ["run", "--config", "/etc/spotsched/spotsched.toml"]
