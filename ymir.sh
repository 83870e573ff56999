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

# --- the web GUI (web/): node packages from the lock file, the typed client, the bundle ------------------
WEB="$ROOT/web"

# web_hash FILES...: one hash of the named files' contents (missing files count as empty)
web_hash() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# npm ci from package-lock.json, again only when the lock file changed since the last install
web_node_modules() {
    command -v npm >/dev/null || { log "the web GUI needs Node.js 20+ and npm (apt-get install -y nodejs npm)"; exit 1; }
    local want; want="$(web_hash "$WEB/package-lock.json")"
    if [ "$(cat "$WEB/node_modules/.ymir-lock" 2>/dev/null)" != "$want" ]; then
        log "installing the web GUI's packages (npm ci)"
        (cd "$WEB" && nice npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" >"$WEB/node_modules/.ymir-lock"
    fi
}

# the typed API client: the backend's OpenAPI (dumped without a server) -> web/src/api/schema.d.ts
web_schema() {
    "$VENV/bin/python" "$WEB/scripts/dump_openapi.py" "$WEB/openapi.json"
    (cd "$WEB" && npx --no-install openapi-typescript openapi.json --default-non-nullable false \
        -o src/api/schema.d.ts --silent)
}

# web_build [force]: build web/dist when it is missing or its sources (or the API) changed
web_build() {
    local stamp
    stamp="$(find "$WEB/src" "$WEB/index.html" "$WEB/package-lock.json" "$WEB/vite.config.ts" \
        "$ROOT/backend/ymir_backend" -type f \( -name '*.ts' -o -name '*.tsx' -o -name '*.json' \
        -o -name '*.html' -o -name '*.py' \) ! -name schema.d.ts -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16)"
    if [ "${1:-}" != force ] && [ -f "$WEB/dist/index.html" ] && [ "$(cat "$WEB/dist/.ymir-build" 2>/dev/null)" = "$stamp" ]; then
        return
    fi
    web_node_modules
    log "building the web GUI (web/dist)"
    web_schema
    (cd "$WEB" && nice npx --no-install vite build --logLevel warn)
    echo "$stamp" >"$WEB/dist/.ymir-build"
}

# what ./ymir.sh test runs for the GUI: types, lint, unit tests, and the bundle the browser tests load
web_check() {
    web_node_modules
    web_schema
    log "web: tsc"
    (cd "$WEB" && npx --no-install tsc -b)
    log "web: eslint"
    (cd "$WEB" && npx --no-install eslint --max-warnings 0 .)
    log "web: vitest"
    (cd "$WEB" && npx --no-install vitest run --reporter=dot)
    web_build
}

# the browser the GUI tests drive (Debian's chromium; Playwright downloads none)
ensure_chromium() {
    [ -x /usr/bin/chromium ] && return
    log "installing chromium for the browser tests (apt-get)"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
        || { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
        || { log "could not install chromium; install it (apt-get install -y chromium) and run again"; exit 1; }
}

cmd_test() {
    ensure_venv
    cd "$ROOT"
    log "ruff"
    "$VENV/bin/ruff" check "${PYTHON_PARTS[@]}" tests bench
    log "mypy"
    for part in "${PYTHON_PARTS[@]}"; do  # one part at a time: each is its own package
        "$VENV/bin/mypy" "$part"
    done
    web_check
    ensure_chromium
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
    [ -n "${YMIR_WEB_DIST:-}" ] || web_build
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
    log "YMIR is running: http://127.0.0.1:$port (API docs: http://127.0.0.1:$port/docs)"
    log "admin login: ${YMIR_ADMIN_EMAIL:-admin@example.com} / ${YMIR_ADMIN_PASSWORD:-change-me-now}"
    [ -z "${YMIR_ADMIN_PASSWORD:-}" ] && log "change that password (POST /api/v1/auth/password) or set YMIR_ADMIN_PASSWORD in .env"
    log "stop with ./ymir.sh stop; logs with ./ymir.sh logs"
}

cmd_stop() {
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
}

case "${1:-}" in
    test) shift; cmd_test "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop ;;
    status) shift; cmd_status ;;
    logs) shift; tail -n "${1:-100}" -f "$STATE/api.log" "$STATE/worker.log" ;;
    *) echo "usage: ./ymir.sh test | start | stop | status | logs" >&2; exit 2 ;;
esac
