#!/usr/bin/env bash
# YMIR's one entry point.
#   ./ymir.sh test    install what the tests need and run the whole suite (lint, types, tests)
#   ./ymir.sh start   run the platform on its embedded defaults: SQLite, the embedded broker, a task
#                     worker, the API on port 12001; ./ymir.sh stop | status | logs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${YMIR_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

log() { printf '\033[1mymir:\033[0m %s\n' "$*" >&2; }

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating the Python environment in $VENV"
        "$PY" -m venv "$VENV"
    fi
    # torch is pinned to the local CPU build; installing it first keeps pip from fetching a CUDA build.
    log "installing Python packages (command/, executor/ and test tools)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
    local parts=(-e "$ROOT/command[test]" -e "$ROOT/executor[test]" -e "$ROOT/controller[test]"
                 -e "$ROOT/backend[test]")
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${parts[@]}" 2>&1 | grep -v "is ignored" || true
    "$VENV/bin/python" -c "import mir, pyarrow" || { log "installation failed"; exit 1; }
}

PYTHON_PARTS=(command/mir executor/ymir_executor controller/ymir_controller backend/ymir_backend)

# Label Studio (label_studio/ls.sh): its own environment, installed only when the pinned version is missing.
label_studio_install() { "$ROOT/label_studio/ls.sh" install; }
label_studio_enabled() { case "${YMIR_LABEL_STUDIO:-false}" in true|1|yes) return 0 ;; *) return 1 ;; esac; }
label_studio_start() {
    label_studio_enabled || return 0
    label_studio_install
    "$ROOT/label_studio/ls.sh" start
}
label_studio_stop() { "$ROOT/label_studio/ls.sh" stop 2>/dev/null || true; }

cmd_test() {
    ensure_venv
    label_studio_install  # the labeling tests start it from label_studio/ls.sh
    cd "$ROOT"
    log "ruff"
    "$VENV/bin/ruff" check "${PYTHON_PARTS[@]}" tests bench
    log "mypy"
    for part in "${PYTHON_PARTS[@]}"; do  # one part at a time: each is its own package
        "$VENV/bin/mypy" "$part"
    done
    log "pytest"
    # a per-checkout temp folder: concurrent runs (two clones on one machine) never delete each other's files
    mkdir -p "$ROOT/.ymir"
    "$VENV/bin/python" -m pytest --basetemp "$ROOT/.ymir/pytest" "$@"
}

STATE="$ROOT/.ymir"

load_env() {
    if [ -f "$ROOT/.env" ]; then
        set -a; . "$ROOT/.env"; set +a
    fi
    export YMIR_WORKPLACE="${YMIR_WORKPLACE:-ymir-workplace}"
    case "$YMIR_WORKPLACE" in /*) ;; *) export YMIR_WORKPLACE="$ROOT/$YMIR_WORKPLACE" ;; esac
}

running() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

# spawn NAME DIR COMMAND...: run COMMAND in DIR as the leader of a new session (so stop can end it and
# everything it started), logging to $STATE/NAME.log; the pid file holds the leader's own pid.
spawn() {
    local name="$1" dir="$2"
    shift 2
    rm -f "$STATE/$name.pid"
    (cd "$dir" && setsid bash -c 'echo $$ >"$0"; exec "$@"' "$STATE/$name.pid" "$@" \
        </dev/null >>"$STATE/$name.log" 2>&1 &)
    for _ in $(seq 1 50); do [ -s "$STATE/$name.pid" ] && break; sleep 0.1; done
}

cmd_start() {
    ensure_venv
    load_env
    mkdir -p "$STATE" "$YMIR_WORKPLACE/sharing"
    if running worker; then
        log "the worker is already running (pid $(cat "$STATE/worker.pid")); ./ymir.sh stop first"
    else
        log "starting a task worker (broker: ${YMIR_BROKER_URL:-embedded}, workplace: $YMIR_WORKPLACE)"
        spawn worker "$YMIR_WORKPLACE" "$VENV/bin/python" -m celery -A ymir_controller.worker worker \
            -Q cpu,gpu -c "${YMIR_WORKER_CONCURRENCY:-4}" --loglevel INFO
        "$VENV/bin/python" - <<'PY' || { log "the worker did not answer; see $STATE/worker.log"; exit 1; }
from ymir_controller.client import Client
from ymir_controller.protocol import PingRequest
from ymir_controller.settings import Settings
client = Client(Settings())
client.wait(client.submit(PingRequest()), timeout=60)
PY
        log "worker ready (log: $STATE/worker.log)"
    fi
    local port="${YMIR_PORT:-12001}"
    if running api; then
        log "the API is already running (pid $(cat "$STATE/api.pid"))"
    else
        log "migrating the database (${YMIR_DATABASE_URL:-SQLite in the workplace})"
        "$VENV/bin/python" -m ymir_backend.migrate
        log "starting the API on port $port"
        spawn api "$ROOT" "$VENV/bin/python" -m uvicorn ymir_backend.main:app --host "${YMIR_HOST:-0.0.0.0}" \
            --port "$port" --http httptools --loop asyncio
        for _ in $(seq 1 120); do
            "$VENV/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/health', timeout=2)" \
                >/dev/null 2>&1 && break
            running api || { log "the API did not start; see $STATE/api.log"; tail -20 "$STATE/api.log" >&2; exit 1; }
            sleep 0.5
        done
    fi
    label_studio_start
    log "YMIR is running: http://127.0.0.1:$port (API docs: http://127.0.0.1:$port/docs)"
    log "admin login: ${YMIR_ADMIN_EMAIL:-admin@example.com} / ${YMIR_ADMIN_PASSWORD:-change-me-now}"
    [ -z "${YMIR_ADMIN_PASSWORD:-}" ] && log "change that password (POST /api/v1/auth/password) or set YMIR_ADMIN_PASSWORD in .env"
    log "stop with ./ymir.sh stop; logs with ./ymir.sh logs"
}

cmd_stop() {
    label_studio_stop
    for name in api worker; do
        if running "$name"; then
            kill -TERM -- "-$(cat "$STATE/$name.pid")" 2>/dev/null || kill -TERM "$(cat "$STATE/$name.pid")"
            for _ in $(seq 1 40); do running "$name" || break; sleep 0.5; done
            running "$name" && kill -KILL -- "-$(cat "$STATE/$name.pid")" 2>/dev/null
            log "stopped $name"
        fi
        rm -f "$STATE/$name.pid"
    done
}

cmd_status() {
    for name in api worker; do
        if running "$name"; then echo "$name: running (pid $(cat "$STATE/$name.pid"))"; else echo "$name: stopped"; fi
    done
    "$ROOT/label_studio/ls.sh" status
}

case "${1:-}" in
    test) shift; cmd_test "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop ;;
    status) shift; cmd_status ;;
    logs) shift; tail -n "${1:-100}" -f "$STATE/api.log" "$STATE/worker.log" ;;
    *) echo "usage: ./ymir.sh test | start | stop | status | logs" >&2; exit 2 ;;
esac
