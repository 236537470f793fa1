#!/usr/bin/env bash
# From a fresh clone to green tests, for a new teammate:
#   scripts/setup_dev.sh [--venv DIR] [--python PYTHON] [--no-tests]
# Creates the virtualenv (default .venv), installs the project with its dev extra, installs
# the git hooks (commit template, ruff, the Env trailer), prints the health check and runs
# the unit suite. Safe to run again: an existing venv is reused and brought up to date.
set -euo pipefail

venv=.venv
python=${PYTHON:-python3}
tests=1
while [ $# -gt 0 ]; do
    case "$1" in
        --venv) venv=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --no-tests) tests=0; shift ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: $python is missing or older than Python 3.11 (pass --python python3.11)" >&2
    exit 1
fi
if ! git rev-parse --git-dir >/dev/null 2>&1; then
    echo "error: $(pwd) is not a git repository (clone the project, do not download it)" >&2
    exit 1
fi

step() { printf '\n== %s\n' "$*"; }

step "virtualenv $venv"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"

# torchship from where pyproject.toml's [tool.torchship.tool] says (scripts/tool_source.py):
# the index, a git URL at the tool's tag, the team's index (added to pip's own), or the
# template's checkout beside the project.
args=$("$python" scripts/tool_source.py) || exit 1
tool=()
while IFS= read -r arg; do
    if [ -n "$arg" ]; then tool+=("$arg"); fi
done <<< "$args"
step "install -e .[dev] (torch is pinned exactly: a CPU or CUDA build as your index serves)"
# A venv's bundled pip may predate what the tool source needs (23.x refuses git+file:// URLs).
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "${tool[@]}" -e '.[dev]'

step "git hooks"
"$venv/bin/invoke" hooks.install

step "health check"
"$venv/bin/python" scripts/health_check.py

if [ "$tests" = 1 ]; then
    step "unit suite"
    PATH="$(pwd)/$venv/bin:$PATH" "$venv/bin/nox" --no-venv -s unit
fi

printf '\nready: source %s/bin/activate, then `invoke --list` and `nox -l`\n' "$venv"
