#!/usr/bin/env bash
# YMIR's one entry point.
#   ./ymir.sh test    install what the tests need and run the whole suite (lint, types, tests)
#   ./ymir.sh start   (comes with the backend) run the platform on its embedded defaults
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
    local parts=(-e "$ROOT/command[test]" -e "$ROOT/executor[test]" -e "$ROOT/controller[test]")
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${parts[@]}" 2>&1 | grep -v "is ignored" || true
    "$VENV/bin/python" -c "import mir, pyarrow" || { log "installation failed"; exit 1; }
}

PYTHON_PARTS=(command/mir executor/ymir_executor controller/ymir_controller)

cmd_test() {
    ensure_venv
    cd "$ROOT"
    log "ruff"
    "$VENV/bin/ruff" check "${PYTHON_PARTS[@]}" tests bench
    log "mypy"
    for part in "${PYTHON_PARTS[@]}"; do  # one part at a time: each is its own package
        "$VENV/bin/mypy" "$part"
    done
    log "pytest"
    "$VENV/bin/python" -m pytest "$@"
}

cmd_start() {
    log "\`./ymir.sh start\` arrives with the backend (issue: backend). Today YMIR is the \`mir\` command line:"
    ensure_venv
    log "  $VENV/bin/mir --help"
    exit 1
}

case "${1:-}" in
    test) shift; cmd_test "$@" ;;
    start) shift; cmd_start "$@" ;;
    *) echo "usage: ./ymir.sh test | start" >&2; exit 2 ;;
esac
