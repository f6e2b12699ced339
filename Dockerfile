# syntax=docker/dockerfile:1
# Build stage: a virtual environment with pipgate and its dependencies.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/pipgate
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY policies ./policies
COPY storage ./storage
RUN /opt/pipgate/bin/pip install .

# Runtime stage: the venv only, as an unprivileged user, cache on a volume.
FROM python:3.11-slim
RUN groupadd --system pipgate && useradd --system --gid pipgate --home-dir /var/lib/pipgate pipgate \
    && mkdir -p /var/lib/pipgate && chown pipgate:pipgate /var/lib/pipgate
COPY --from=build /opt/pipgate /opt/pipgate
ENV PATH=/opt/pipgate/bin:$PATH \
    PIPGATE_HOST=0.0.0.0 \
    PIPGATE_PORT=8080 \
    PIPGATE_DATA_DIR=/var/lib/pipgate
USER pipgate
VOLUME ["/var/lib/pipgate"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PIPGATE_PORT', '8080')}/readyz\", timeout=4)"]
ENTRYPOINT ["pipgate"]
CMD ["serve"]
