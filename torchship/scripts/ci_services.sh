#!/bin/sh
# Make sure the services the image and matrix tests need exist on this machine:
# a Docker engine (Debian's docker.io, with a BuildKit-capable client), debootstrap,
# docker-registry and skopeo (image signatures). Idempotent: what is installed or running
# is left as it is.
#
#   sudo scripts/ci_services.sh         # as root (CI runs as root)
#
# The engine is started with no bridge and no iptables: these machines may not route
# to private addresses, so containers get network "none" unless a build asks for host.
set -eu

need=""
command -v dockerd >/dev/null 2>&1 && [ -x /usr/bin/docker ] || need="$need docker.io"
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need="$need debootstrap"
command -v docker-registry >/dev/null 2>&1 || need="$need docker-registry"
# Image signatures: GPG "simple signing" and its verification under a policy.json.
command -v skopeo >/dev/null 2>&1 || need="$need skopeo"
# The dev.ssh test logs in with a real ssh client (and makes its keys with ssh-keygen).
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || need="$need openssh-client"
if [ -n "$need" ]; then
    echo "ci_services: installing$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    apt-get install -y -qq --no-install-recommends $need ca-certificates >/dev/null
fi

# Debian's 20.10 client does BuildKit without the buildx plugin; a newer client first on
# PATH may refuse it, so talk to the engine through this one.
DOCKER=/usr/bin/docker

if ! "$DOCKER" info >/dev/null 2>&1; then
    echo "ci_services: starting dockerd"
    # If a stale socket or a crashed daemon left a pid file, dockerd refuses to start.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    setsid dockerd --bridge=none --iptables=false --ip-forward=false \
        >/var/log/torchship-dockerd.log 2>&1 < /dev/null &
    i=0
    until "$DOCKER" info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 60 ]; then
            echo "ci_services: dockerd did not answer within 60 s; see /var/log/torchship-dockerd.log" >&2
            tail -n 20 /var/log/torchship-dockerd.log >&2 || true
            exit 1
        fi
        sleep 1
    done
fi
echo "ci_services: engine $("$DOCKER" version --format '{{.Server.Version}}') answers; debootstrap, docker-registry and skopeo present"

# A one-node Slurm cluster (munge, slurmctld, slurmd) for the matrix's Slurm runner.
sh "$(dirname "$0")/slurm_cluster.sh"
