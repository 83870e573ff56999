#!/usr/bin/env bash
# YMIR's one entry point.
#   ./ymir.sh test    install what the tests need and run the whole suite (lint, types, tests);
#                     ./ymir.sh test PART (command, executor, controller, backend, web, or a tests/ folder)
#                     runs that part's lint, types and tests; other arguments go to pytest
#   ./ymir.sh install install the Python packages (only when a pyproject.toml changed since the last time)
#   ./ymir.sh start   run the platform on its embedded defaults: SQLite, the embedded broker, a task
#                     worker, the API on port 12001; ./ymir.sh stop | status | logs
#   ./ymir.sh start --docker   the same with Docker: docker-compose.yml (PostgreSQL, Redis, API, workers);
#                     ./ymir.sh stop --docker | status --docker
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${YMIR_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

log() { printf '\033[1mymir:\033[0m %s\n' "$*" >&2; }

# The files whose change means "install again": the project files of every Python part (and this script's
# install steps, through INSTALL_VERSION). Anything else (source code) is installed editable and needs nothing.
INSTALL_FILES=(pyproject.toml command/pyproject.toml executor/pyproject.toml controller/pyproject.toml
               backend/pyproject.toml)
INSTALL_VERSION=2  # raise when ensure_venv's steps change

# stamp_hash FILE...: one hash of the named files (relative to $ROOT) and INSTALL_VERSION.
stamp_hash() {
    (cd "$ROOT" && { echo "$INSTALL_VERSION"; cat "$@"; } | sha256sum | cut -d' ' -f1)
}

# stamp_fresh NAME FILE...: true when NAME was installed from exactly these files (stamp in the venv).
stamp_fresh() {
    local name="$1"; shift
    [ -f "$VENV/.ymir-stamp-$name" ] && [ "$(cat "$VENV/.ymir-stamp-$name")" = "$(stamp_hash "$@")" ]
}

# stamp_write NAME FILE...: record that NAME is installed from these files.
stamp_write() {
    local name="$1"; shift
    stamp_hash "$@" >"$VENV/.ymir-stamp-$name"
}

pip_quiet() {
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@" 2>&1 | grep -v "is ignored" || true
}

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating the Python environment in $VENV"
        "$PY" -m venv "$VENV"
    fi
    if stamp_fresh python "${INSTALL_FILES[@]}"; then
        return 0
    fi
    local started=$SECONDS
    # torch is pinned to the local CPU build; installing it first keeps pip from fetching a CUDA build.
    log "installing PyTorch 2.13.0 (the first time takes about a minute)"
    pip_quiet "torch==2.13.0"
    log "installing command/, executor/, controller/ and backend/ with their test tools (about a minute)"
    pip_quiet -e "$ROOT/command[test]" -e "$ROOT/executor[test]" -e "$ROOT/controller[test]" -e "$ROOT/backend[test]"
    "$VENV/bin/python" -c "import mir, pyarrow, ymir_backend, ymir_controller, ymir_executor" \
        || { log "installation failed (see pip's output above); fix it and run again"; exit 1; }
    stamp_write python "${INSTALL_FILES[@]}"
    log "Python packages installed in $((SECONDS - started)) s; next time this step is skipped until a pyproject.toml changes"
}

# ensure_chromium: the headless browser the GUI and /docs tests drive (Debian's chromium, never a download
# by Playwright), and a CJK font (WenQuanYi Micro Hei, 1.6 MB) without which the 简体中文 pages and their
# screenshots show boxes instead of characters. Installed with apt-get when missing.
ensure_chromium() {
    local want=()
    [ -x /usr/bin/chromium ] || want+=(chromium)
    if ! command -v fc-list >/dev/null || [ -z "$(fc-list :lang=zh family 2>/dev/null | head -n 1)" ]; then
        want+=(fonts-wqy-microhei)
    fi
    [ "${#want[@]}" -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        [ -x /usr/bin/chromium ] && { log "no CJK font: install one (e.g. WenQuanYi Micro Hei) for the 简体中文 pages"; return 0; }
        log "the tests need Chromium at /usr/bin/chromium; install it with your package manager"; exit 1
    fi
    log "installing ${want[*]} with apt-get (about 30 s, once)"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${want[@]}" >/dev/null \
        || { $sudo apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${want[@]}" >/dev/null; } \
        || { log "apt-get could not install ${want[*]}; install it and run again"; exit 1; }
}

# Python parts: NAME -> package folder; ./ymir.sh test NAME lints, type-checks and tests only that part.
declare -A PART_PACKAGE=([command]=command/mir [executor]=executor/ymir_executor
                         [controller]=controller/ymir_controller [backend]=backend/ymir_backend)
PYTHON_PARTS=(command/mir executor/ymir_executor controller/ymir_controller backend/ymir_backend)

# --- the web GUI (web/): node packages from the lock file, the typed client, the bundle ------------------
WEB="$ROOT/web"

# npm ci from package-lock.json, again only when the lock file changed since the last install
web_node_modules() {
    command -v npm >/dev/null || { log "the web GUI needs Node.js 20+ and npm (apt-get install -y nodejs npm)"; exit 1; }
    local want; want="$(sha256sum "$WEB/package-lock.json" | cut -c1-16)"
    if [ "$(cat "$WEB/node_modules/.ymir-lock" 2>/dev/null)" != "$want" ]; then
        log "installing the web GUI's packages (npm ci, about a minute)"
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

# web_build: build web/dist when it is missing or its sources (or the API it is typed against) changed
web_build() {
    [ -f "$WEB/package.json" ] || { log "no web/ in this checkout: the GUI is not built"; return 0; }
    local stamp
    stamp="$(find "$WEB/src" "$WEB/index.html" "$WEB/package-lock.json" "$WEB/vite.config.ts" \
        "$ROOT/backend/ymir_backend" -type f \( -name '*.ts' -o -name '*.tsx' -o -name '*.json' \
        -o -name '*.html' -o -name '*.py' \) ! -name schema.d.ts -print0 | sort -z | xargs -0 cat \
        | sha256sum | cut -c1-16)"
    if [ -f "$WEB/dist/index.html" ] && [ "$(cat "$WEB/dist/.ymir-build" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    web_node_modules
    log "building the web GUI (web/dist)"
    web_schema
    (cd "$WEB" && nice npx --no-install vite build --logLevel warn)
    echo "$stamp" >"$WEB/dist/.ymir-build"
}

# web_check: the GUI's types, lint and unit tests, and the bundle the browser tests load
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

# web_test [PYTEST-ARGS...]: ./ymir.sh test web — the checks above and the browser tests (tests/web)
web_test() {
    web_check
    ensure_chromium
    label_studio_install  # the GUI's labeling test labels in the run's real Label Studio
    log "web: ruff"
    "$VENV/bin/ruff" check tests/web web/scripts
    log "web: pytest"
    run_pytest tests/web "$@"
}

# Label Studio (label_studio/ls.sh): its own environment, installed only when the pinned version is missing.
label_studio_install() { "$ROOT/label_studio/ls.sh" install; }
label_studio_enabled() { case "${YMIR_LABEL_STUDIO:-false}" in true|1|yes) return 0 ;; *) return 1 ;; esac; }
label_studio_start() {
    label_studio_enabled || return 0
    label_studio_install
    "$ROOT/label_studio/ls.sh" start
}
label_studio_stop() { "$ROOT/label_studio/ls.sh" stop 2>/dev/null || true; }

run_pytest() {
    # a per-checkout temp folder: concurrent runs (two clones on one machine) never delete each other's files
    mkdir -p "$ROOT/.ymir"
    "$VENV/bin/python" -m pytest --basetemp "$ROOT/.ymir/pytest" "$@"
}

# test_part NAME [PYTEST-ARGS...]: one part's lint, types and tests.
test_part() {
    local part="$1"; shift
    if [ "$part" = web ]; then
        if declare -F web_test >/dev/null; then web_test "$@"; return; fi
        log "the web part has no tests yet"; return 0
    fi
    local pkg="${PART_PACKAGE[$part]:-}" paths=()
    [ -n "$pkg" ] && paths+=("$pkg")
    [ -d "$ROOT/tests/$part" ] && paths+=("tests/$part")
    [ "${#paths[@]}" -gt 0 ] || { log "no part named '$part'; parts: ${!PART_PACKAGE[*]} web $(cd "$ROOT/tests" && ls -d */ | tr -d / | tr '\n' ' ')"; exit 2; }
    log "$part: ruff"
    "$VENV/bin/ruff" check "${paths[@]}"
    if [ -n "$pkg" ]; then log "$part: mypy"; "$VENV/bin/mypy" "$pkg"; fi
    if [ -d "$ROOT/tests/$part" ]; then log "$part: pytest"; run_pytest "tests/$part" "$@"; fi
}

cmd_test() {
    ensure_venv
    cd "$ROOT"
    local first="${1:-}"
    # a part's name (command, executor, controller, backend, web: also folders here) or a name that is no path
    if [ -n "$first" ] && [ "${first#-}" = "$first" ] \
        && { [ -n "${PART_PACKAGE[$first]:-}" ] || [ "$first" = web ] || [ ! -e "$first" ]; }; then
        shift
        [ "$first" = backend ] && ensure_chromium
        [ "$first" = labeling ] && label_studio_install
        test_part "$first" "$@"
        return
    fi
    ensure_chromium
    label_studio_install  # the labeling tests start it from label_studio/ls.sh
    web_check
    log "ruff"
    "$VENV/bin/ruff" check "${PYTHON_PARTS[@]}" tests bench web/scripts
    "$VENV/bin/ruff" format --check --quiet "${PYTHON_PARTS[@]}" tests bench web/scripts
    log "mypy"
    for part in "${PYTHON_PARTS[@]}"; do  # one part at a time: each is its own package
        "$VENV/bin/mypy" "$part"
    done
    log "pytest"
    run_pytest --durations=25 "$@"  # the 25 slowest steps end the log: what to look at when the suite grows
}

STATE="$ROOT/.ymir"

load_env() {
    local file
    for file in "$ROOT/.env" "$ROOT/.env.local"; do  # .env.local: this machine's overrides (not committed)
        if [ -f "$file" ]; then
            set -a; . "$file"; set +a
        fi
    done
    export YMIR_WORKPLACE="${YMIR_WORKPLACE:-ymir-workplace}"
    case "$YMIR_WORKPLACE" in /*) ;; *) export YMIR_WORKPLACE="$ROOT/$YMIR_WORKPLACE" ;; esac
}

# sharing_folder: the absolute folder server-path imports read (YMIR_SHARING_DIR, relative to the workplace).
sharing_folder() {
    local dir="${YMIR_SHARING_DIR:-sharing}"
    case "$dir" in /*) echo "$dir" ;; *) echo "$YMIR_WORKPLACE/$dir" ;; esac
}

running() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

# spawn NAME DIR COMMAND...: run COMMAND in DIR as the leader of a new session (so stop can end it and
# everything it started), logging to $STATE/NAME.log; the pid file holds the leader's own pid.
spawn() {
    local name="$1" dir="$2"
    shift 2
    rm -f "$STATE/$name.pid"
    # the redirections are on the whole subshell, so nothing keeps start's own output open: start's
    # output can be piped or captured, and the pipe closes when start ends
    (cd "$dir" && exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$STATE/$name.pid" "$@") \
        </dev/null >>"$STATE/$name.log" 2>&1 &
    for _ in $(seq 1 50); do [ -s "$STATE/$name.pid" ] && break; sleep 0.1; done
}

# refuse_unknown_start_options ARGS...: the local mode takes no options (--docker is handled before it).
refuse_unknown_start_options() {
    local arg
    for arg in "$@"; do
        log "unknown option to start: $arg (usage: ./ymir.sh start [--docker])"; exit 2
    done
}

cmd_start() {
    refuse_unknown_start_options "$@"
    ensure_venv
    load_env
    [ -n "${YMIR_WEB_DIST:-}" ] || web_build  # the GUI's bundle, rebuilt only when its sources changed
    mkdir -p "$STATE" "$(sharing_folder)"
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
    log "sharing folder for server-path imports: $(sharing_folder)"
    log "admin login: ${YMIR_ADMIN_EMAIL:-admin@example.com} / ${YMIR_ADMIN_PASSWORD:-change-me-now}"
    [ -z "${YMIR_ADMIN_PASSWORD:-}" ] && log "change that password (POST /api/v1/auth/password) or set YMIR_ADMIN_PASSWORD in .env"
    log "stop with ./ymir.sh stop; logs with ./ymir.sh logs"
}

# stop: ask each leader to shut down (the worker then stops its own children after their
# current task; signalling the whole group would kill them under it, logged as "exited with signal 15"),
# and end whatever of its group is left after 20 s.
cmd_stop() {
    label_studio_stop
    for name in api worker; do
        if running "$name"; then
            local pid; pid="$(cat "$STATE/$name.pid")"
            kill -TERM "$pid"
            for _ in $(seq 1 40); do running "$name" || break; sleep 0.5; done
            running "$name" && kill -KILL -- "-$pid" 2>/dev/null
            kill -TERM -- "-$pid" 2>/dev/null || true  # anything of its group still left
            log "stopped $name"
        fi
        rm -f "$STATE/$name.pid"
    done
}

# --- Docker: docker-compose.yml (PostgreSQL, Redis, the API, workers; Label Studio and the GPU worker
# under profiles). Any engine speaking the Docker API works, e.g. podman's (docs/deploy.md).
compose() {
    if [ -n "${YMIR_COMPOSE:-}" ]; then
        $YMIR_COMPOSE "$@"
    elif docker compose version >/dev/null 2>&1; then
        docker compose "$@"
    elif command -v docker-compose >/dev/null; then
        docker-compose "$@"
    elif command -v podman-compose >/dev/null; then
        podman-compose "$@"
    else
        log "no compose tool found: install Docker with its compose plugin (or podman-compose), or set YMIR_COMPOSE"
        exit 1
    fi
}

# generate_secret FILE NAME WHAT: when NAME is empty, generate it once into FILE (mode 600) and keep it there.
generate_secret() {
    local file="$1" name="$2" what="$3"
    [ -n "${!name:-}" ] && return 0
    grep -q "^$name=" "$file" 2>/dev/null && return 0
    (umask 077 && printf '%s=%s\n' "$name" "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >>"$file")
    log "generated $what (kept in $file)"
}

docker_env() {
    load_env
    [ -f "$ROOT/.env" ] || { log "$ROOT/.env is missing (it is part of the checkout: git checkout .env)"; exit 1; }
    mkdir -p "$YMIR_WORKPLACE/sharing"
    # secrets left empty in .env are generated once and kept in the workplace
    local secrets="$YMIR_WORKPLACE/.secrets.env"
    generate_secret "$secrets" YMIR_POSTGRES_PASSWORD "the database password"
    [ "${YMIR_LABEL_STUDIO:-false}" = true ] && generate_secret "$secrets" YMIR_LABEL_STUDIO_TOKEN "Label Studio's API token"
    if [ -f "$secrets" ]; then set -a; . "$secrets"; set +a; fi
    local profiles=()
    [ -n "${YMIR_GPU_IDS:-}" ] && profiles+=(gpu)
    [ "${YMIR_LABEL_STUDIO:-false}" = true ] && profiles+=(label)
    COMPOSE_PROFILES="$(IFS=,; echo "${profiles[*]:-}")"
    export COMPOSE_PROFILES COMPOSE_PROJECT_NAME=ymir
}

cmd_start_docker() {
    docker_env
    cd "$ROOT"
    log "starting the compose stack (profiles: ${COMPOSE_PROFILES:-none}; workplace: $YMIR_WORKPLACE)"
    compose up -d "$@"
    log "YMIR is starting: http://127.0.0.1:${YMIR_PORT:-12001} (state: ./ymir.sh status --docker)"
    log "admin login: ${YMIR_ADMIN_EMAIL:-admin@example.com} / ${YMIR_ADMIN_PASSWORD:-change-me-now}"
    log "stop with ./ymir.sh stop --docker (the databases and the workplace are kept)"
}

cmd_stop_docker() {
    docker_env
    cd "$ROOT"
    compose down "$@"
}

cmd_status() {
    for name in api worker; do
        if running "$name"; then echo "$name: running (pid $(cat "$STATE/$name.pid"))"; else echo "$name: stopped"; fi
    done
    "$ROOT/label_studio/ls.sh" status
}

case "${1:-}" in
    test) shift; cmd_test "$@" ;;
    install) shift; ensure_venv ;;
    start) shift; if [ "${1:-}" = --docker ]; then shift; cmd_start_docker "$@"; else cmd_start "$@"; fi ;;
    stop) shift; if [ "${1:-}" = --docker ]; then shift; cmd_stop_docker "$@"; else cmd_stop; fi ;;
    status) shift; if [ "${1:-}" = --docker ]; then docker_env; cd "$ROOT"; compose ps; else cmd_status; fi ;;
    logs) shift; tail -n "${1:-100}" -f "$STATE/api.log" "$STATE/worker.log" ;;
    *) echo "usage: ./ymir.sh test [PART] | start [--docker] | stop [--docker] | status [--docker] | logs | install" >&2; exit 2 ;;
esac
