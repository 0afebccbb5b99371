#!/usr/bin/env bash
# tests/slurm/cluster.sh start|stop|env: a real single-node Slurm cluster on this machine for
# tests/slurm/run.sh (no systemd here: munged, slurmctld and slurmd are started directly; recipe in
# docs/slurm.md).
#   start  reuse daemons that answer (the system's /etc/slurm/slurm.conf, or an earlier start of this
#          script), else write a config under $GR_SLURM_DIR (default /tmp/gravrd-slurm) and start
#          munged (if munge does not answer), slurmctld and slurmd; waits until the node is idle.
#          Prints "SLURM_CONF started" or "SLURM_CONF reused"; records in $GR_SLURM_DIR/started what it
#          started (a reuse leaves the record of whoever started them).
#   stop   stops what `start` recorded as started (jobs left are cancelled first; scontrol shutdown,
#          then the pid files; munged --stop). Call it only after a start that said "started".
# Exit status 0, or 1 with one line on stderr.
set -u
DIR=${GR_SLURM_DIR:-/tmp/gravrd-slurm}
CONF=$DIR/slurm.conf
die() { echo "slurm cluster: error: $*" >&2; exit 1; }

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
# ping CONF: 0 if a slurmctld answers under CONF and the node is up
ping_ok() { SLURM_CONF=$1 timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_state() { SLURM_CONF=$1 timeout 5 sinfo -h -N -o %T 2>/dev/null | head -n 1; }

write_conf() {
  local cpus mem
  cpus=$(nproc)
  mem=$(awk '/^MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  mkdir -p "$DIR/spool/ctld" "$DIR/spool/d" "$DIR/log"
  cat >"$CONF" <<CONF
# written by tests/slurm/cluster.sh (gravrd's Slurm test): one node, this machine
ClusterName=gravrdtest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MailProg=/bin/true
SchedulerParameters=sched_interval=1
KillWait=15
MinJobAge=600
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  local c t
  for c in ${SLURM_CONF:-} /etc/slurm/slurm.conf "$CONF"; do
    if [ -f "$c" ] && ping_ok "$c"; then echo "$c reused"; return 0; fi
  done
  command -v slurmctld >/dev/null && command -v munged >/dev/null || die "slurm-wlm and munge are not installed"
  mkdir -p "$DIR" || die "cannot create $DIR"
  : >"$DIR/started"
  if ! munge_ok; then
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key || die "mungekey failed"
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    install -d -o munge -g munge -m 755 /run/munge
    runuser -u munge -- /usr/sbin/munged || die "munged did not start"
    echo munged >>"$DIR/started"
    munge_ok || die "munge does not answer after starting munged"
  fi
  write_conf
  SLURM_CONF=$CONF /usr/sbin/slurmctld || die "slurmctld did not start (see $DIR/log/slurmctld.log)"
  echo slurmctld >>"$DIR/started"
  SLURM_CONF=$CONF /usr/sbin/slurmd -N localhost || die "slurmd did not start (see $DIR/log/slurmd.log)"
  echo slurmd >>"$DIR/started"
  for ((t = 0; t < 100; t++)); do
    case $(node_state "$CONF") in idle|mixed|allocated) echo "$CONF started"; return 0;; esac
    sleep 0.1
  done
  die "the node is not idle after 10 s: $(node_state "$CONF") (see $DIR/log)"
}

stop() {
  [ -f "$DIR/started" ] || return 0
  local t
  if grep -qx slurmctld "$DIR/started"; then
    # jobs still there (a test that failed half-way) end first: shutting the daemons down leaves them running
    if [ -n "$(SLURM_CONF=$CONF squeue -h -o %i 2>/dev/null)" ]; then
      SLURM_CONF=$CONF scancel --full $(SLURM_CONF=$CONF squeue -h -o %i) 2>/dev/null
      for ((t = 0; t < 200; t++)); do [ -z "$(SLURM_CONF=$CONF squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
    fi
    SLURM_CONF=$CONF scontrol shutdown >/dev/null 2>&1
    for ((t = 0; t < 50; t++)); do
      pgrep -F "$DIR/slurmctld.pid" >/dev/null 2>&1 || pgrep -F "$DIR/slurmd.pid" >/dev/null 2>&1 || break
      sleep 0.1
    done
  fi
  # a daemon the shutdown did not reach (slurmd, when slurmctld went first) is stopped through its pid file
  local d
  for d in slurmctld slurmd; do
    grep -qx "$d" "$DIR/started" && pgrep -F "$DIR/$d.pid" >/dev/null 2>&1 && pkill -TERM -F "$DIR/$d.pid"
  done
  for ((t = 0; t < 50; t++)); do
    pgrep -F "$DIR/slurmctld.pid" >/dev/null 2>&1 || pgrep -F "$DIR/slurmd.pid" >/dev/null 2>&1 || break
    sleep 0.1
  done
  grep -qx munged "$DIR/started" && runuser -u munge -- /usr/sbin/munged --stop >/dev/null 2>&1
  rm -f "$DIR/started"
  return 0
}

case ${1:-} in
  start) start;;
  stop) stop;;
  *) echo "usage: tests/slurm/cluster.sh start|stop" >&2; exit 2;;
esac
