#!/bin/sh
# The torchship git hooks (.pre-commit-config.yaml), from any shell: no virtualenv need be
# active. Runs `torchship hook ARGS` with, in order: the active virtualenv's torchship, the
# project's ./.venv (scripts/setup_dev.sh makes it), else the one on PATH.
for venv in "${VIRTUAL_ENV:-}" .venv; do
    if [ -n "$venv" ] && [ -x "$venv/bin/torchship" ]; then
        exec "$venv/bin/torchship" hook "$@"
    fi
done
if command -v torchship >/dev/null 2>&1; then
    exec torchship hook "$@"
fi
echo "torchship hook: torchship is not in ./.venv, the active virtualenv or on PATH: run" \
     "scripts/setup_dev.sh (it makes .venv with the tool), or put torchship on PATH" >&2
exit 1
