#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the launcher tests (tests/test_slurm.py) and
# for trying `gazebench run --launcher slurm` locally: Debian's packages (slurm-wlm, munge, and
# slurmdbd with MariaDB so that `sacct` -- which submitit polls for job states -- answers as on a
# real cluster), one node (this host) with all its CPUs in one partition `debug`.
#
# Run as root on Debian/Ubuntu; works in a container without systemd or cgroups (daemons started
# directly, proctrack/linuxproc, task/none).  Idempotent: with the cluster already up it only waits
# for the node; a second run after tools/ci/stop_slurm.sh starts it again with the same
# configuration and job history.  Installs the packages only where they are missing.
#
# Everything lives under $GAZEBENCH_SLURM_DIR (default /var/lib/gazebench-slurm): state, spool,
# logs, pid files.  The configuration goes to /etc/slurm/slurm.conf and /etc/slurm/slurmdbd.conf
# (where Slurm's commands look); a slurm.conf not written by this script is never overwritten.
# Exit code 0 once `sinfo` shows the node idle; otherwise 1 with one line naming what failed
# (the daemons' logs are in $GAZEBENCH_SLURM_DIR/log).
set -euo pipefail

DIR="${GAZEBENCH_SLURM_DIR:-/var/lib/gazebench-slurm}"
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
MARK="# written by gazebench tools/ci/start_slurm.sh"
CLUSTER=gazebench
WAIT_S="${GAZEBENCH_SLURM_WAIT_S:-60}"

fail() { echo "start_slurm: $*" >&2; exit 1; }
log() { echo "start_slurm: $*" >&2; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs packages and starts slurmctld, slurmd, munged, slurmdbd, mariadbd)"

node_idle() { timeout 10 sinfo -h -N -o '%t' 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; }
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if running "$DIR/run/slurmctld.pid" && [ -f "$CONF" ] && grep -qF "$MARK" "$CONF" && node_idle; then
    log "the cluster is already up"
    exit 0
fi

# --- packages ---------------------------------------------------------------------------------------
need=()
for cmd in munged:munge slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client slurmdbd:slurmdbd \
           mariadbd:mariadb-server; do
    command -v "${cmd%%:*}" >/dev/null || [ -x "/usr/sbin/${cmd%%:*}" ] || need+=("${cmd##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || fail "missing ${need[*]} and there is no apt-get to install them"
    log "installing ${need[*]}"
    t0=$(date +%s)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || fail "apt-get update failed"
    apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd munge mariadb-server >/dev/null \
        || fail "apt-get could not install slurm-wlm slurmdbd munge mariadb-server"
    log "installed in $(( $(date +%s) - t0 )) s"
fi
export PATH="$PATH:/usr/sbin:/sbin"

# --- configuration ------------------------------------------------------------------------------------
t0=$(date +%s)
mkdir -p "$DIR"/{ctld,spool,log,run} /etc/slurm /run/munge /run/mysqld
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    fail "$CONF exists and was not written by this script: move it away to use the test cluster here"
fi
HOST="$(hostname -s)"
# the node as slurmd sees it (CPUs, sockets, cores, threads, memory), reachable on the loopback
NODE="$(slurmd -C | head -1) NodeAddr=127.0.0.1 State=UNKNOWN"
[[ "$NODE" == "NodeName=$HOST "* ]] || fail "slurmd -C names another node than $HOST: $NODE"
cat >"$CONF" <<EOF
$MARK
# one node, no systemd, no cgroups: processes tracked through /proc, no task binding
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# job records in slurmdbd: what sacct reads (submitit's job-state queries)
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# a killed task (scancel, scontrol requeue) gets SIGTERM, then SIGKILL after KillWait seconds
# (submitit's tasks ignore SIGTERM: the default 30 s would only slow the tests)
KillWait=1
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
$NODE
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
DB_PASS=gazebench-ci
umask 077
cat >"$DBD_CONF" <<EOF
$MARK
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
AuthType=auth/munge
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
EOF
umask 022
chmod 600 "$DBD_CONF"

# --- daemons --------------------------------------------------------------------------------------------
wait_for() {  # wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds
    local what=$1 limit=$2 i
    shift 2
    for ((i = 0; i < limit * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    fail "$what did not come up in ${limit} s (logs in $DIR/log)"
}

# munge: the key the package made, the daemon as its own user
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
chown munge:munge /etc/munge/munge.key /run/munge && chmod 400 /etc/munge/munge.key
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged --force || fail "munged did not start"
    wait_for munged 10 sh -c 'munge -n </dev/null | unmunge'
fi

# MariaDB (the package initialised its data directory; root logs in through the unix socket)
chown mysql:mysql /run/mysqld
if ! mariadb-admin ping >/dev/null 2>&1; then
    (setsid /usr/sbin/mariadbd --user=mysql --skip-networking=0 --bind-address=127.0.0.1 \
        --log-error="$DIR/log/mariadb.log" >/dev/null 2>&1 </dev/null &)
    wait_for mariadbd 30 mariadb-admin ping
fi
mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;" \
    || fail "could not create the database user for slurmdbd"

if ! running "$DIR/run/slurmdbd.pid"; then
    slurmdbd || fail "slurmdbd did not start (see $DIR/log/slurmdbd.log)"
fi
wait_for slurmdbd 30 sacctmgr -n list cluster
sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" \
    || sacctmgr -i add cluster "$CLUSTER" >/dev/null || fail "sacctmgr could not add cluster $CLUSTER"

if ! running "$DIR/run/slurmctld.pid"; then
    slurmctld || fail "slurmctld did not start (see $DIR/log/slurmctld.log)"
fi
wait_for slurmctld 30 scontrol ping
if ! running "$DIR/run/slurmd.pid"; then
    slurmd || fail "slurmd did not start (see $DIR/log/slurmd.log)"
fi
scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true  # after an unclean stop
wait_for "node $HOST (idle in sinfo)" "$WAIT_S" node_idle
log "node $HOST idle (daemons up in $(( $(date +%s) - t0 )) s); sinfo:"
sinfo >&2
