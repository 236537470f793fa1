#!/bin/sh
# What the release tests need on a fresh Debian 12 machine: git, gpg (+ agent), ssh-keygen,
# and chattr (to make a file unwritable even for root). Idempotent: installs only what is missing.
set -eu
missing=""
command -v git >/dev/null 2>&1 || missing="$missing git"
command -v gpg >/dev/null 2>&1 || missing="$missing gnupg"
command -v gpg-agent >/dev/null 2>&1 || missing="$missing gpg-agent"
command -v ssh-keygen >/dev/null 2>&1 || missing="$missing openssh-client"
command -v chattr >/dev/null 2>&1 || missing="$missing e2fsprogs"
if [ -n "$missing" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
echo "release test tools: git $(git --version | cut -d' ' -f3), $(gpg --version | head -1)," \
     "ssh-keygen, chattr"
