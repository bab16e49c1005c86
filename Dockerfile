# syntax=docker/dockerfile:1
# Build stage: a virtualenv from the locked dependencies, then the package itself.
FROM python:3.11-slim AS build
RUN python -m venv /opt/venv
COPY requirements.lock /src/
RUN /opt/venv/bin/pip install --no-cache-dir --require-virtualenv -r /src/requirements.lock
COPY pyproject.toml README.md /src/
COPY orchestrator_telemetry /src/orchestrator_telemetry
COPY migrations /src/migrations
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps /src \
 && /opt/venv/bin/python -m compileall -q /opt/venv

# Runtime stage: the virtualenv only; nothing is written at run time, so the root
# filesystem can be mounted read-only.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
COPY config.example.yaml /etc/orchestrator-telemetry/config.example.yaml
USER 65532:65532
STOPSIGNAL SIGTERM
ENTRYPOINT ["orchestrator-telemetry"]
CMD ["run"]
