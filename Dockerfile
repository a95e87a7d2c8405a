# Imagegate gateway image.
#
#   docker build -t imagegate .                      # Python 3.12 by default
#   docker build --build-arg PYTHON_VERSION=3.11 -t imagegate .
#   docker run --rm -p 127.0.0.1:8080:8080 -e IMAGEGATE_ALLOW_OPEN=1 -v imagegate_images:/data imagegate
#
# Two stages: `build` installs the runtime dependencies and the app into a venv at /opt/venv;
# `runtime` is a fresh copy of the same base image with only that venv and the config added.
# Every dependency installs from a wheel (PIP_ONLY_BINARY), so no compiler is needed anywhere.
# Podman: pass `--format docker` (or set BUILDAH_FORMAT=docker), or the OCI format drops
# the HEALTHCHECK.

ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_ONLY_BINARY=:all: \
    PATH=/opt/venv/bin:$PATH
# Whatever python3 the base provides (/usr/local/bin in the official images, /usr/bin in
# Debian-built ones); the runtime stage uses the same base, so the venv's symlink resolves.
RUN python3 -m venv /opt/venv
WORKDIR /src
# Dependencies first, in a layer that only a change to pyproject.toml invalidates.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --requirement requirements.txt
COPY README.md ./
COPY app ./app
# The app itself (no dev extras), then pip and setuptools leave the venv: nothing installs at
# run time.
RUN pip install --no-deps . \
    && pip uninstall --yes pip setuptools


FROM python:${PYTHON_VERSION}-slim AS runtime
LABEL org.opencontainers.image.title="Imagegate" \
      org.opencontainers.image.description="Self-hosted, OpenAI-compatible gateway for image generation" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid, so orchestrators can check runAsNonRoot; it owns only /data.
RUN groupadd --gid 10001 imagegate \
    && useradd --uid 10001 --gid 10001 --no-create-home --no-log-init \
        --home-dir /nonexistent --shell /usr/sbin/nologin imagegate \
    && mkdir -p /data/images \
    && chown -R 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
COPY config /etc/imagegate
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IMAGEGATE_CONFIG=/etc/imagegate/gateway.yaml \
    IMAGEGATE_DATA_DIR=/data/images \
    IMAGEGATE_DATABASE_URL=sqlite:////data/imagegate.sqlite3
# Re-hosted images and the database. Mount your own config over /etc/imagegate (read-only is fine).
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8080
# uvicorn finishes in-flight requests for up to 30 s after SIGTERM; give `docker stop` -t 35.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"]
# Exec form: the Python process is PID 1 and receives SIGTERM itself. With no gateway keys it
# refuses to listen on 0.0.0.0 unless IMAGEGATE_ALLOW_OPEN=1.
CMD ["imagegate", "serve", "--host", "0.0.0.0"]
