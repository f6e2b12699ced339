#!/usr/bin/env bash
# The benchmark in one command: bash bench/run.sh [runner options, e.g. --servers nginx,pipgate-2w]
#
# Installs what it needs (nginx-light and wrk from Debian packages; proxpi, devpi-server +
# devpi-client and a pip client in their own venvs under bench/.work/venvs), then runs
# bench/runner.py with the project's venv and prints the report (python bench/report.py).
# Loopback only; stops only the processes it started. Results: bench/results/<run-id>.jsonl.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"
VENVS="$BENCH/.work/venvs"
PY="$REPO/.venv/bin/python"

need_apt=()
command -v nginx >/dev/null || need_apt+=(nginx-light)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v curl >/dev/null || need_apt+=(curl)
if ((${#need_apt[@]})); then
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if [[ ! -x "$REPO/.venv/bin/pipgate" ]]; then
    [[ -x "$PY" ]] || python3 -m venv "$REPO/.venv"
    "$REPO/.venv/bin/pip" install -q -e "$REPO"
fi

# venv NAME PACKAGE... : a venv of its own per peer (their pins must not meet pipgate's).
venv() {
    local name="$1"
    shift
    if [[ "$(cat "$VENVS/$name/.installed" 2>/dev/null)" != "$*" ]]; then
        rm -rf "${VENVS:?}/$name"
        python3 -m venv "$VENVS/$name"
        "$VENVS/$name/bin/pip" install -q --disable-pip-version-check "$@"
        echo "$*" >"$VENVS/$name/.installed"
    fi
}
venv proxpi proxpi gunicorn
venv devpi devpi-server devpi-client
venv client --upgrade pip

"$PY" "$BENCH/runner.py" "$@" || status=$?
"$PY" "$BENCH/report.py"
exit "${status:-0}"
