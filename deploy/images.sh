#!/usr/bin/env bash
# Build YMIR's container images locally, with podman (or docker), on a machine that may reach no image
# registry: the base is a Debian root file system made by debootstrap, imported as an image.
#
#   deploy/images.sh base       Debian bookworm + Python 3.11 in /opt/venv      -> ymir-base:bookworm
#   deploy/images.sh executor   executor/Dockerfile on that base (CPU torch)    -> ymir-executor:0.1.0
#   deploy/images.sh app        Dockerfile: API + workers (+ the web bundle)    -> ymir:0.1.0
#   deploy/images.sh services   PostgreSQL and Redis from Debian's packages     -> ymir-postgres:15, ymir-redis:7
#   deploy/images.sh all        all of the above, in that order
#
# With a registry at hand you need none of this: `docker compose build` uses the public bases named in
# the Dockerfiles (a CUDA PyTorch image for the executor). Settings (environment):
#   YMIR_CONTAINER_ENGINE  podman (default) or docker
#   YMIR_DEBIAN_MIRROR     Debian mirror for debootstrap (default http://deb.debian.org/debian)
# podman reads deploy/containers.conf (runc, ulimits) unless CONTAINERS_CONF is already set.
# This machine's own pip configuration (find-links folders, file:// indexes such as a local CPU torch
# wheel, and its certificate authority) is mounted read-only into the builds, so `pip install torch==2.13.0` resolves as it does here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENGINE="${YMIR_CONTAINER_ENGINE:-podman}"
MIRROR="${YMIR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WORK="${YMIR_IMAGE_WORK:-/var/tmp/ymir-images}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/deploy/containers.conf}"

log() { printf '\033[1mymir images:\033[0m %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

command -v "$ENGINE" >/dev/null || die "$ENGINE is not installed; on Debian: apt-get install -y podman runc debootstrap"

# pip settings of this machine, passed into the builds (a local wheel folder or file:// index only)
PIP_ARGS=()
pip_setting() {  # pip_setting KEY ENVVAR: the environment wins, then pip's configuration files
    local value="${!2:-}"
    [ -n "$value" ] || value="$(python3 -m pip config list 2>/dev/null | sed -n "s/^global\.$1='\(.*\)'\$/\1/p" | tail -1)"
    printf '%s' "$value"
}
FIND_LINKS="$(pip_setting find-links PIP_FIND_LINKS)"
EXTRA_INDEX="$(pip_setting extra-index-url PIP_EXTRA_INDEX_URL)"
for item in $FIND_LINKS $EXTRA_INDEX; do
    dir="${item#file://}"
    dir="${dir%/}"
    dir="${dir%/simple}"  # a local index links to files beside its simple/ folder
    [ -d "$dir" ] && PIP_ARGS+=(-v "$dir:$dir:ro")
done
[ -n "$FIND_LINKS" ] && PIP_ARGS+=(--build-arg "PIP_FIND_LINKS=$FIND_LINKS")
[ -n "$EXTRA_INDEX" ] && PIP_ARGS+=(--build-arg "PIP_EXTRA_INDEX_URL=$EXTRA_INDEX")
CERT="$(pip_setting cert PIP_CERT)"  # a proxy's certificate authority, if pip here needs one
[ -f "$CERT" ] && PIP_ARGS+=(-v "$CERT:/etc/ymir-pip-ca.crt:ro" --build-arg "PIP_CERT=/etc/ymir-pip-ca.crt")

build() {  # build TAG DOCKERFILE CONTEXT [extra args]
    local tag="$1" file="$2" context="$3"
    shift 3
    log "building $tag from $file"
    if [ "$ENGINE" = podman ]; then
        nice -n 10 podman build --network host "${PIP_ARGS[@]}" -t "$tag" -f "$file" "$@" "$context"
    else
        nice -n 10 docker build --network host -t "$tag" -f "$file" "$@" "$context"
    fi
}

has_image() { "$ENGINE" image exists "$1" 2>/dev/null || "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

cmd_base() {
    command -v debootstrap >/dev/null || die "debootstrap is not installed; apt-get install -y debootstrap"
    [ "$(id -u)" = 0 ] || die "debootstrap needs root; run as root (or build with a registry's python:3.11 image)"
    local rootfs="$WORK/rootfs"
    rm -rf "$rootfs"
    mkdir -p "$WORK"
    log "debootstrap bookworm into $rootfs (about 2 minutes)"
    nice -n 10 debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log: $WORK/debootstrap.log)"; }
    chroot "$rootfs" /usr/bin/python3 -m venv /opt/venv
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    log "importing ymir-base:bookworm"
    tar -C "$rootfs" -c . | "$ENGINE" import \
        --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - ymir-base:bookworm >/dev/null
    rm -rf "$rootfs"
}

need_base() { has_image ymir-base:bookworm || cmd_base; }

cmd_executor() {
    need_base
    build ymir-executor:0.1.0 "$ROOT/executor/Dockerfile" "$ROOT/executor" --build-arg BASE_IMAGE=ymir-base:bookworm
}

cmd_app() {
    need_base
    # no Node image without a registry: the web stage keeps a bundle built here (./ymir.sh start builds it)
    if [ -f "$ROOT/web/package.json" ] && [ ! -f "$ROOT/web/dist/index.html" ] && command -v npm >/dev/null; then
        log "building the web bundle on this machine"
        (cd "$ROOT/web" && npm ci --no-audit --no-fund && npm run build)
    fi
    build ymir:0.1.0 "$ROOT/Dockerfile" "$ROOT" --build-arg BASE_IMAGE=ymir-base:bookworm \
        --build-arg NODE_IMAGE=ymir-base:bookworm
}

cmd_services() {
    need_base
    build ymir-postgres:15 "$ROOT/deploy/postgres.Dockerfile" "$ROOT/deploy"
    build ymir-redis:7 "$ROOT/deploy/redis.Dockerfile" "$ROOT/deploy"
}

case "${1:-}" in
    base) cmd_base ;;
    executor) cmd_executor ;;
    app) cmd_app ;;
    services) cmd_services ;;
    all) need_base; cmd_executor; cmd_app; cmd_services ;;
    *) echo "usage: deploy/images.sh base | executor | app | services | all" >&2; exit 2 ;;
esac
log "done: $("$ENGINE" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'ymir' | tr '\n' ' ')"
