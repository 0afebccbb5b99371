#!/usr/bin/env bash
# bench/rootfs.sh OUT.tar.xz: a minimal root file system holding bin/gravrd, Open MPI (mpirun, orted and
# their components), and every shared library they load, at this machine's paths, for timing gravrd on a
# machine that has none of its Debian packages and cannot fetch them (bench/scaling.sh runs in it through
# chroot), with bench/scaling.sh and bench/membw.c built, under /work. Not used by the build or the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
OUTF=$(realpath -m "${1:?usage: bench/rootfs.sh OUT.tar.xz}")
[ -x bin/gravrd ] || { echo "bench/rootfs.sh: build first (make)" >&2; exit 1; }
ML=/usr/lib/x86_64-linux-gnu
list=$(mktemp); trap 'rm -f "$list" "$list.elf"' EXIT
tools="bash sh env cat date seq mkdir rm ls tar gzip timeout nproc sleep sed awk mawk grep sort head tail wc cut tr
       uname cp mv touch tee printf test ps du df free xargs basename dirname readlink realpath bc stat false"
{ for t in $tools; do p=$(command -v "$t" 2>/dev/null || true); [ -n "$p" ] && [ -f "$p" ] && echo "$p"; done
  readlink -f /usr/bin/mpirun; echo /usr/bin/orterun; echo /usr/bin/orted; echo /usr/bin/mpirun
  echo /etc/alternatives/mpirun
  find $ML/openmpi $ML/pmix2 $ML/ucx /usr/share/openmpi /etc/openmpi /usr/share/pmix $ML/libfabric \
       $ML/hwloc /etc/ld.so.conf /etc/ld.so.conf.d -type f 2>/dev/null | grep -v -E '/include/|\.a$|java' || true
  echo /etc/passwd; echo /etc/group; echo /etc/nsswitch.conf; echo /etc/hosts
} | sort -u >"$list"
# the shared-library closure of every ELF file in the list (and of bin/gravrd)
{ echo "$PWD/bin/gravrd"; cat "$list"; } | while read -r f; do
  file -L "$f" 2>/dev/null | grep -q ELF && ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}' || true
done | sort -u >"$list.elf"
cat "$list.elf" >>"$list"
# every link on the way to each file (alternatives: libblas.so.3 -> /etc/alternatives/... -> openblas)
chain() {
  local f=$1 t n=0
  while [ -L "$f" ] && [ $n -lt 16 ]; do
    echo "$f"; t=$(readlink "$f"); case $t in /*) f=$t ;; *) f=$(dirname "$f")/$t ;; esac; n=$((n + 1))
  done
  echo "$f"
}
while read -r f; do [ -e "$f" ] || [ -L "$f" ] || { echo "bench/rootfs.sh: skipped $f (not here)" >&2; continue; }
  chain "$f"; done <"$list" | sort -u >"$list.all"
mv "$list.all" "$list"
sort -u -o "$list" "$list"
stage=$(mktemp -d); trap 'rm -rf "$stage" "$list" "$list.elf"' EXIT
# /bin, /lib... as links first (merged /usr), so that files listed through them land in /usr
for d in lib lib64 bin sbin; do
  if [ -L "/$d" ]; then mkdir -p "$stage/$(readlink -m "/$d")"; ln -sfn "$(readlink "/$d")" "$stage/$d"; fi
done
tar -cf - --files-from="$list" 2> >(grep -v 'Removing leading' >&2) | tar -xf - --keep-directory-symlink -C "$stage"
mkdir -p "$stage/work/bin" "$stage/work/build" "$stage/work/bench" "$stage/tmp" "$stage/proc" "$stage/sys" \
         "$stage/dev" "$stage/root"
cp bin/gravrd "$stage/work/bin/"
cc -O2 -march=x86-64-v2 -o "$stage/work/build/membw" bench/membw.c
cp bench/scaling.sh "$stage/work/bench/"
chmod 755 "$stage"; chmod 1777 "$stage/tmp"
tar -C "$stage" -cJf "$OUTF" .
echo "bench/rootfs.sh: $(wc -l <"$list") paths, $(du -sh "$stage" | cut -f1) unpacked, $(du -h "$OUTF" | cut -f1) as $OUTF" >&2
