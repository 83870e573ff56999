#!/usr/bin/env bash
# Label Studio next to YMIR: its own virtual environment, its data under the workplace.
#   label_studio/ls.sh install   install the pinned version into .venv-label-studio (skipped when present)
#   label_studio/ls.sh start     start it on YMIR_LABEL_STUDIO_PORT (12007) and wait until it answers
#   label_studio/ls.sh stop | status | token
# Settings come from the environment, .env.local or the repository's .env (its "labeling" part).
# Label Studio must not share the app's environment: it downgrades numpy and redis.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LS_VERSION="1.23.2"
LS_VENV="${YMIR_LABEL_STUDIO_VENV:-$ROOT/.venv-label-studio}"
PY="${PYTHON:-python3}"

log() { printf '\033[1mlabel-studio:\033[0m %s\n' "$*" >&2; }

ls_load_env() {
    # the environment wins over .env.local (this machine's overrides), which wins over .env
    local file line name
    for file in "$ROOT/.env.local" "$ROOT/.env"; do
        [ -f "$file" ] || continue
        while IFS= read -r line; do
            name="${line%%=*}"
            [ -n "${!name+x}" ] || export "$line"
        done < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$file")
    done
    YMIR_WORKPLACE="${YMIR_WORKPLACE:-ymir-workplace}"
    case "$YMIR_WORKPLACE" in /*) ;; *) YMIR_WORKPLACE="$ROOT/$YMIR_WORKPLACE" ;; esac
    LS_PORT="${YMIR_LABEL_STUDIO_PORT:-12007}"
    LS_BIND="${YMIR_LABEL_STUDIO_BIND:-0.0.0.0}"
    LS_DIR="${YMIR_LABEL_STUDIO_DIR:-label-studio}"
    case "$LS_DIR" in /*) ;; *) LS_DIR="$YMIR_WORKPLACE/$LS_DIR" ;; esac
    LS_ADMIN="${YMIR_LABEL_STUDIO_ADMIN_EMAIL:-labeling-admin@example.com}"
    LS_PASSWORD="${YMIR_LABEL_STUDIO_ADMIN_PASSWORD:-change-me-now}"
    LS_PID="$LS_DIR/label-studio.pid"
    LS_LOG="$LS_DIR/label-studio.log"
}

ls_installed_version() {
    [ -x "$LS_VENV/bin/python" ] || return 1
    "$LS_VENV/bin/python" - <<'PY' 2>/dev/null
from importlib.metadata import version
print(version("label-studio"))
PY
}

cmd_install() {
    local have
    have="$(ls_installed_version || true)"
    if [ "$have" = "$LS_VERSION" ]; then
        log "label-studio $LS_VERSION is installed in $LS_VENV"
        return 0
    fi
    log "installing label-studio $LS_VERSION into $LS_VENV (about 90 s)"
    [ -x "$LS_VENV/bin/python" ] || "$PY" -m venv "$LS_VENV"
    "$LS_VENV/bin/pip" install --quiet --disable-pip-version-check "label-studio==$LS_VERSION" 2>&1 \
        | grep -v "is ignored" || true
    have="$(ls_installed_version || true)"
    [ "$have" = "$LS_VERSION" ] || { log "installing label-studio $LS_VERSION failed"; exit 1; }
}

# The API token: configured, or generated once and kept in the Label Studio folder (the workers read
# the same file when YMIR_LABEL_STUDIO_TOKEN is empty).
ls_token() {
    if [ -n "${YMIR_LABEL_STUDIO_TOKEN:-}" ]; then
        printf '%s' "$YMIR_LABEL_STUDIO_TOKEN"
        return
    fi
    mkdir -p "$LS_DIR"
    if [ ! -s "$LS_DIR/token" ]; then
        (umask 077; "$PY" -c 'import secrets; print(secrets.token_hex(20))' >"$LS_DIR/token")
    fi
    tr -d '\n' <"$LS_DIR/token"
}

ls_running() { [ -f "$LS_PID" ] && kill -0 "$(cat "$LS_PID")" 2>/dev/null; }

# PostgreSQL when YMIR runs on it (a database of its own on the same server), SQLite otherwise.
ls_database_env() {
    local url="${YMIR_DATABASE_URL:-}"
    case "$url" in
        postgresql*)
            eval "$("$LS_VENV/bin/python" - "$url" "${YMIR_LABEL_STUDIO_DB_NAME:-}" <<'PY'
import shlex, sys
from urllib.parse import unquote, urlsplit
u = urlsplit(sys.argv[1])
name = sys.argv[2] or (u.path.lstrip("/") or "ymir") + "_label_studio"
env = {"DJANGO_DB": "default", "POSTGRE_NAME": name, "POSTGRE_USER": unquote(u.username or "postgres"),
       "POSTGRE_PASSWORD": unquote(u.password or ""), "POSTGRE_HOST": u.hostname or "127.0.0.1",
       "POSTGRE_PORT": str(u.port or 5432)}
print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items()))
PY
)"
            "$LS_VENV/bin/python" - <<'PY' || { log "could not create database $POSTGRE_NAME on $POSTGRE_HOST"; exit 1; }
import os
import psycopg
from psycopg import sql
e = os.environ
with psycopg.connect(dbname="postgres", user=e["POSTGRE_USER"], password=e["POSTGRE_PASSWORD"],
                     host=e["POSTGRE_HOST"], port=e["POSTGRE_PORT"], autocommit=True, connect_timeout=10) as c:
    if c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (e["POSTGRE_NAME"],)).fetchone() is None:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(e["POSTGRE_NAME"])))
PY
            LS_DB_ARGS=()
            log "database: PostgreSQL $POSTGRE_NAME on $POSTGRE_HOST:$POSTGRE_PORT"
            ;;
        *)
            LS_DB_ARGS=(--database "$LS_DIR/data/label_studio.sqlite3")
            ;;
    esac
}

cmd_start() {
    if ls_running; then
        log "already running (pid $(cat "$LS_PID")) on port $LS_PORT"
        return 0
    fi
    [ "$(ls_installed_version || true)" = "$LS_VERSION" ] \
        || { log "label-studio $LS_VERSION is not installed; run label_studio/ls.sh install"; exit 1; }
    mkdir -p "$LS_DIR/data" "$LS_DIR/home"
    local token
    token="$(ls_token)"
    ls_database_env
    log "starting on port $LS_PORT (data: $LS_DIR, log: $LS_LOG)"
    rm -f "$LS_PID"
    # HOME: Label Studio writes a user id file under ~/.config; keep it in its own folder.
    # SSRF protection off: its webhooks call YMIR's API, usually on a private address. No analytics, no
    # version check, no error reports to Label Studio's Sentry (it sends them by default).
    (
        cd "$LS_DIR"
        export HOME="$LS_DIR/home" \
            LABEL_STUDIO_USERNAME="$LS_ADMIN" LABEL_STUDIO_PASSWORD="$LS_PASSWORD" \
            LABEL_STUDIO_USER_TOKEN="$token" LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true \
            LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true COLLECT_ANALYTICS=false \
            SSRF_PROTECTION_ENABLED=false LATEST_VERSION_CHECK=false \
            SENTRY_DSN="" FRONTEND_SENTRY_DSN="" \
            LABEL_STUDIO_HOST="${YMIR_LABEL_STUDIO_PUBLIC_URL:-}"
        setsid bash -c 'echo $$ >"$0"; exec "$@"' "$LS_PID" \
            "$LS_VENV/bin/label-studio" start --no-browser --internal-host "$LS_BIND" --port "$LS_PORT" \
            --data-dir "$LS_DIR/data" "${LS_DB_ARGS[@]}" </dev/null >>"$LS_LOG" 2>&1 &
    )
    for _ in $(seq 1 50); do [ -s "$LS_PID" ] && break; sleep 0.1; done
    # a first start applies every migration: about 30 s on 2 quiet cores, minutes on a loaded machine
    local timeout="${YMIR_LABEL_STUDIO_START_TIMEOUT:-600}" waited=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$LS_PORT/health" || true)" = 200 ]; do
        if ! ls_running; then
            log "Label Studio exited; the end of $LS_LOG:"
            tail -30 "$LS_LOG" >&2
            exit 1
        fi
        if [ "$waited" -ge $((timeout * 2)) ]; then
            log "Label Studio did not answer within $timeout s (YMIR_LABEL_STUDIO_START_TIMEOUT); stopping it; see $LS_LOG"
            cmd_stop
            exit 1
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    log "ready: http://127.0.0.1:$LS_PORT (login $LS_ADMIN)"
}

cmd_stop() {
    if ls_running; then
        local pid
        pid="$(cat "$LS_PID")"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
        for _ in $(seq 1 40); do ls_running || break; sleep 0.25; done
        ls_running && kill -KILL -- "-$pid" 2>/dev/null
        log "stopped"
    fi
    rm -f "$LS_PID"
}

cmd_status() {
    if ls_running; then echo "label-studio: running (pid $(cat "$LS_PID"), port $LS_PORT)"; else echo "label-studio: stopped"; fi
}

ls_load_env
case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    token) ls_token; echo ;;
    version) echo "$LS_VERSION" ;;
    *) echo "usage: label_studio/ls.sh install | start | stop | status | token | version" >&2; exit 2 ;;
esac
