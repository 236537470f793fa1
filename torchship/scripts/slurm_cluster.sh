#!/bin/sh
# A one-node Slurm cluster on this machine for the matrix's Slurm runner tests
# (docs/slurm.md): munge, slurmctld and slurmd from Debian's packages, this host both
# controller and only compute node, no accounting database. Called by ci_services.sh.
# Idempotent: what is installed, configured or running is left as it is.
#
#   sudo scripts/slurm_cluster.sh       # as root (CI runs as root)
#
# The configuration is written to /etc/slurm/slurm.conf (where the Slurm commands look
# without SLURM_CONF) only when no file is there, or the one there is this script's.
# The node is reached through 127.0.0.1: nothing here talks to another machine.
set -eu

need=""
command -v slurmctld >/dev/null 2>&1 || need="$need slurmctld"
command -v slurmd >/dev/null 2>&1 || need="$need slurmd"
command -v sbatch >/dev/null 2>&1 || need="$need slurm-client"
command -v munged >/dev/null 2>&1 || need="$need munge"
if [ -n "$need" ]; then
    echo "slurm_cluster: installing$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

CONF=/etc/slurm/slurm.conf
STATE=/var/lib/torchship-slurm
MARK="# written by torchship/scripts/slurm_cluster.sh"
NODE=$(hostname -s)
CPUS=$(nproc)

if [ -f "$CONF" ] && ! head -n 1 "$CONF" | grep -qF "$MARK"; then
    echo "slurm_cluster: $CONF is not this script's; using the cluster it describes"
else
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" /var/log/slurm
    new=$(mktemp)
    cat >"$new" <<EOF
$MARK
ClusterName=torchship
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroups on these machines: processes are tracked by their parents, not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# A job past its time limit gets SIGTERM, then SIGKILL this many seconds later: the
# matrix job removes its containers in between.
KillWait=10
# Finished jobs stay visible to scontrol this long (the runner reads their end state).
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    if ! cmp -s "$new" "$CONF" 2>/dev/null; then
        mv "$new" "$CONF"
        chmod 644 "$CONF"
        changed=1
    else
        rm -f "$new"
    fi
fi

# munge: a key of 1024 random bytes owned by munge, mode 400 (the package's own key is
# kept when it is there), and the daemon started when it does not answer.
KEY=/etc/munge/munge.key
if [ ! -s "$KEY" ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of="$KEY" bs=1 count=1024 2>/dev/null
fi
chown munge:munge "$KEY"
chmod 400 "$KEY"
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    echo "slurm_cluster: starting munged"
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    # --force: start even where an old socket was left behind.
    su -s /bin/sh munge -c "/usr/sbin/munged --force"
fi

pid_alive() {
    [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

if [ "${changed:-0}" = 1 ] && pid_alive "$STATE/slurmctld.pid"; then
    # A new configuration: tell the running daemons (scontrol reconfigure re-reads it).
    scontrol reconfigure || true
fi
if ! pid_alive "$STATE/slurmctld.pid"; then
    echo "slurm_cluster: starting slurmctld"
    setsid /usr/sbin/slurmctld </dev/null >/dev/null 2>&1
fi
if ! pid_alive "$STATE/slurmd.pid"; then
    echo "slurm_cluster: starting slurmd"
    setsid /usr/sbin/slurmd </dev/null >/dev/null 2>&1
fi

i=0
until sinfo -h -n "$NODE" -o %t 2>/dev/null | grep -Eq '^(idle|mix|alloc|comp)'; do
    i=$((i + 1))
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)
    case "$state" in
        down*|drain*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    if [ "$i" -gt 60 ]; then
        echo "slurm_cluster: node $NODE not up within 60 s (state: ${state:-no answer});" \
             "see /var/log/slurm/" >&2
        tail -n 10 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
        exit 1
    fi
    sleep 1
done
echo "slurm_cluster: $(sinfo -h -o '%P %D node(s) %t' | head -n 1) (Slurm $(sinfo -V | cut -d' ' -f2))"
