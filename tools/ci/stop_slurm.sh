#!/usr/bin/env bash
# Stop the one-node cluster of tools/ci/start_slurm.sh: slurmd, slurmctld, slurmdbd, then MariaDB
# and munged (each by its pid file; nothing else is touched).  Configuration, job history and
# logs stay under $GAZEBENCH_SLURM_DIR (default /var/lib/gazebench-slurm) for the next start.
set -uo pipefail
DIR="${GAZEBENCH_SLURM_DIR:-/var/lib/gazebench-slurm}"

stop() {  # stop NAME PIDFILE: SIGTERM, then wait up to 15 s for it to exit
    local pid
    [ -f "$2" ] && pid="$(cat "$2")" && kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid"
    for _ in $(seq 75); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    echo "stop_slurm: $1 (pid $pid) still runs after 15 s" >&2
}

stop slurmd "$DIR/run/slurmd.pid"
stop slurmctld "$DIR/run/slurmctld.pid"
stop slurmdbd "$DIR/run/slurmdbd.pid"
stop mariadbd /run/mysqld/mysqld.pid
stop munged /run/munge/munged.pid
