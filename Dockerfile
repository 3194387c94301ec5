# syntax=docker/dockerfile:1
# PodDesk image: one image for every process (Procfile): the default command serves the web process;
# Kubernetes runs the worker (`python -m jobs.worker default`), the scheduler (`python -m jobs.scheduler`)
# and the migration Job (`flask db upgrade`) from the same image with other commands (deploy/k8s/).
#
#   docker build -t registry.example.com/poddesk:0.1.0 .
#
# Nothing secret is baked in: SECRET_KEY, JWT_SECRET, DATABASE_URL, ... come from the environment at run time.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# A compiler only for a dependency without a wheel for the target platform; it never reaches the final stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install --upgrade pip \
    && pip install --require-virtualenv -r /tmp/requirements.txt

# ---------------------------------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    PODDESK_ENV=production \
    FLASK_APP=wsgi.py \
    PORT=5000 \
    UPLOAD_FOLDER=/data/uploads
# A fixed, non-root UID/GID (the Kubernetes manifests use the same runAsUser) with no login shell.
RUN groupadd --system --gid 10001 poddesk \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin poddesk \
    && mkdir -p /data/uploads \
    && chown 10001:10001 /data/uploads
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# The code belongs to root and is read-only for the app user (the root filesystem can be mounted read-only);
# byte-code is compiled now because nothing may be written under /app at run time.
COPY . /app
RUN python -m compileall -q /app
USER 10001:10001
EXPOSE 5000
# No HEALTHCHECK: the same image runs the worker and the scheduler, which serve no HTTP; Kubernetes probes the
# web pods itself (GET /api/health, GET /api/health/ready).
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
