#!/bin/sh
# Install $REQUIREMENTS (newline-separated requirement lines) into the image's Python,
# constrained to the torch the base already holds so nothing can replace it. Run by the
# Dockerfile's dependency steps with the CA bundle and pip.conf as BuildKit secrets, which
# are used here when present and never end up in a layer.
set -eu
if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi
if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi
python -c 'import torch; print("torch==" + torch.__version__)' > /tmp/constraints.txt
: > /tmp/requirements.txt
# $TOOL_WHEELS (the devel step): wheels of the tools that drive the build. Each is installed
# as that very file, so no index can substitute another build of the same version; listed
# first, and the folder a find-links source, for pip takes a name's first requirement line
# as where it comes from.
set --
for wheel in "${TOOL_WHEELS:-/nonexistent}"/*.whl; do
    [ -f "$wheel" ] || continue
    printf '%s\n' "$wheel" >> /tmp/requirements.txt
    set -- --find-links "$TOOL_WHEELS"
done
printf '%s\n' "$REQUIREMENTS" >> /tmp/requirements.txt
if grep -q '[^[:space:]]' /tmp/requirements.txt; then
    python -m pip install "$@" -c /tmp/constraints.txt -r /tmp/requirements.txt
fi
rm /tmp/constraints.txt /tmp/requirements.txt
