# YMIR's application image: the API (serving the web GUI) and the task workers, one image.
#   with a registry:  docker compose build            (python:3.11 + node:22 bases from the registry)
#   without one:      deploy/images.sh app            (BASE_IMAGE=ymir-base:bookworm; the web bundle
#                                                       built on the host, since no Node image is at hand)
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# --- stage 1: the web bundle (web/dist) --------------------------------------------------------------
FROM ${NODE_IMAGE} AS web
WORKDIR /src
COPY . .
# With npm: build from the lock file. Without (a local base image): keep a web/dist built on the host.
RUN mkdir -p web && cd web \
 && if [ -f package.json ] && command -v npm >/dev/null; then npm ci --no-audit --no-fund && npm run build; \
    elif [ -f dist/index.html ]; then echo "using the web bundle built on the host"; \
    else echo "no web bundle: the API will redirect / to /docs"; fi \
 && mkdir -p dist

# --- stage 2: Python packages --------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS app
ARG PIP_FIND_LINKS=""
ARG PIP_EXTRA_INDEX_URL=""
ARG PIP_CERT=""
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned, so no other requirement drags in a different build
RUN python -c "import torch" 2>/dev/null || pip install "torch==2.13.0"
WORKDIR /app
COPY command /app/command
COPY executor /app/executor
COPY controller /app/controller
COPY backend /app/backend
RUN pip install /app/command /app/executor /app/controller /app/backend \
 && python -c "import mir, ymir_executor, ymir_controller.worker, ymir_backend.main"
COPY --from=web /src/web/dist /app/web/dist
# The workplace is mounted at the same path on the host and in every container (see docker-compose.yml).
ENV YMIR_WEB_DIST=/app/web/dist YMIR_EXECUTOR_IMG_MAN=/app/executor/img-man HOME=/tmp
EXPOSE 12001
CMD ["python", "-m", "uvicorn", "ymir_backend.main:app", "--host", "0.0.0.0", "--port", "12001"]
