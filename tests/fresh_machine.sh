#!/usr/bin/env bash
# tests/fresh_machine.sh [ROOTDIR]: prove that the README's two commands work on a bare Debian 12.
#
# Builds a minimal Debian 12 root (debootstrap --variant=minbase, with only make and git added, as a new
# user's machine), copies a clean `git archive` of HEAD to /work/main and ../shared to /work/shared inside it,
# and runs `make test` and then `make run` there with chroot, printing each command's exit status, wall time
# and last lines. Needs root and the debootstrap package; takes a few minutes (package downloads and
# the whole test suite). Not part of `make test`. Exits 0 only if both commands exit 0.
#
# ROOTDIR (default: a new /var/tmp/gravrd-fresh.XXXXXX) is reused if it already holds a root, which skips
# debootstrap but never the packages: `make deps` inside is what is under test, so a reused root must be
# one that never had them installed by hand. KEEP=1 keeps the root afterwards; MIRROR overrides the Debian
# mirror (default: the host's apt source). The chroot's mounts live in a private mount namespace, so they
# disappear with the script even if it is killed.
set -u
die() { echo "fresh_machine: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, mount, chroot)"
command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap"
command -v unshare >/dev/null || die "unshare missing (util-linux)"
REPO=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "$REPO/../shared" 2>/dev/null && pwd) || die "no ../shared beside $REPO"
MIRROR=${MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)}
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources; set MIRROR"
ROOT=${1:-$(mktemp -d /var/tmp/gravrd-fresh.XXXXXX)}
chmod 755 "$ROOT"  # it becomes "/" in the chroot: mktemp's 0700 would keep the tests' nobody out of /usr
cleanup() { [ "${KEEP:-0}" = 1 ] && echo "fresh_machine: root kept in $ROOT" || rm -rf --one-file-system "$ROOT"; }
trap cleanup EXIT

if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
  echo "== debootstrap --variant=minbase --include=make,git bookworm $ROOT"
  t0=$SECONDS
  debootstrap --variant=minbase --include=make,git bookworm "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 ||
    { tail -n 5 "$ROOT.debootstrap.log"; die "debootstrap failed (log: $ROOT.debootstrap.log)"; }
  rm -f "$ROOT.debootstrap.log"
  echo "   done in $((SECONDS - t0)) s"
fi
# the host's apt sources (main suite, updates, security) and name resolution; an /etc/hosts, which minbase
# lacks and without which every mpirun waits seconds on name resolution
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/" && rm -f "$ROOT/etc/apt/sources.list"
fi
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\t%s\n' "$(hostname)" >"$ROOT/etc/hosts"

echo "== copying git archive of HEAD ($(git -C "$REPO" rev-parse --short HEAD)) and ../shared"
rm -rf "$ROOT/work" && mkdir -p "$ROOT/work/main" || die "cannot make $ROOT/work"
git -C "$REPO" archive HEAD | tar -x -C "$ROOT/work/main" || die "git archive failed"
cp -a "$SHARED" "$ROOT/work/shared" || die "cannot copy $SHARED"

# run_in NAME CMD: run CMD in the chroot (private mounts of proc, sys, dev, dev/pts, dev/shm), clean env
run_in() {
  local name=$1 cmd=$2 log="$ROOT/work/$1.log" t0=$SECONDS rc
  echo "== $name: $cmd"
  unshare --mount --propagation private bash -c '
    r=$1; shift
    mount -t proc proc "$r/proc" && mount -t sysfs sys "$r/sys" && mount --rbind /dev "$r/dev" &&
    mount -t tmpfs -o mode=1777 shm "$r/dev/shm" || exit 97
    exec chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$1"' \
    _ "$ROOT" "cd /work/main && $cmd" </dev/null >"$log" 2>&1
  rc=$?
  grep -E '^(\[[^]]*\] )?not ok' "$log" | head -n 40 | sed 's/^/   ! /'  # every failure, not only the last lines
  tail -n 12 "$log" | sed 's/^/   | /'
  echo "   $name: exit status $rc, wall time $((SECONDS - t0)) s"
  return $rc
}
status=0
run_in make-test "make test" || status=1
run_in make-run "make run" || status=1
[ $status = 0 ] && echo "fresh_machine: make test and make run both passed" || echo "fresh_machine: FAILED"
exit $status
