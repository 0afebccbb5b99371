#!/usr/bin/env python3
"""jobs/grid_merge.py IDS PANEL OUTDIR: merge the shards of a grid (jobs/grid-array.sbatch) into one
results.jsonl, as an unsharded run would have it. Called by jobs/grid-merge.sbatch, which then has
`gravrd grid --resume` write results.csv and manifest.json from it (nothing is estimated again).

IDS: the config's selected spec ids, one a line (`gravrd grid CONFIG --dry-run`, first column).
Shards: OUTDIR/shards/K-of-N, K = 1..N, all with the same N. Checked: every shard directory exists and
its manifest.json says it finished (not interrupted, nothing left undone) on this PANEL (same path, size
and modification time); every selected id is in exactly one shard, and in the shard that --shard K/N
gives it; no shard holds an id that is not selected. The merged records (the last line of each id in its
shard, as docs/results.md tells readers) go to OUTDIR/results.jsonl in expansion order, through a
temporary file and a rename. Exit 0, or 1 with one line "gravrd: error: merge ...: ..." on stderr.
"""
import json
import os
import re
import sys


class MergeError(Exception):
    pass


def read_records(path):
    """The records of a results.jsonl: id -> the last whole line of that id (a partial last line is ignored)."""
    recs = {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if no == len(lines):  # a run killed while writing its last line
                continue
            raise MergeError(f"{path}:{no}: not a JSON record")
        if not isinstance(rec, dict) or not isinstance(rec.get("spec_id"), str):
            raise MergeError(f"{path}:{no}: a record without a spec_id")
        recs[rec["spec_id"]] = line
    return recs


def shard_dirs(outdir):
    """[(K, dir)] for K = 1..N and N, from OUTDIR/shards/K-of-N."""
    base = os.path.join(outdir, "shards")
    if not os.path.isdir(base):
        raise MergeError(f"{base}: no shards (run jobs/grid-array.sbatch first)")
    found, counts = {}, set()
    for name in os.listdir(base):
        m = re.fullmatch(r"([1-9][0-9]*)-of-([1-9][0-9]*)", name)
        if m:
            found[int(m.group(1))] = os.path.join(base, name)
            counts.add(int(m.group(2)))
    if not counts:
        raise MergeError(f"{base}: no shard directories (K-of-N)")
    if len(counts) > 1:
        raise MergeError(f"{base}: shards of different counts ({', '.join(map(str, sorted(counts)))}): "
                         "keep one sharding per output directory")
    n = counts.pop()
    missing = [k for k in range(1, n + 1) if k not in found]
    if missing:
        raise MergeError(f"{base}: shard(s) {', '.join(map(str, missing))} of {n} missing "
                         f"(resubmit them: sbatch --array={','.join(str(k - 1) for k in missing)} with GRAVRD_SHARDS={n})")
    return [(k, found[k]) for k in range(1, n + 1)], n


def check_manifest(d, k, n, panel):
    path = os.path.join(d, "manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except FileNotFoundError:
        raise MergeError(f"shard {k} of {n}: {path}: no manifest (the shard did not finish: resubmit it, "
                         f"sbatch --array={k - 1} with GRAVRD_SHARDS={n})")
    except (OSError, json.JSONDecodeError) as e:
        raise MergeError(f"shard {k} of {n}: {path}: {e}")
    if m.get("interrupted") or m.get("not_done", 0) != 0:
        raise MergeError(f"shard {k} of {n}: stopped with {m.get('not_done')} specifications not done "
                         f"(resubmit it: sbatch --array={k - 1} with GRAVRD_SHARDS={n}; --resume finishes)")
    st = os.stat(panel)
    ident = m.get("data_identity") or {}
    if m.get("data") != panel or ident.get("size") != st.st_size or ident.get("mtime") != int(st.st_mtime):
        raise MergeError(f"shard {k} of {n}: ran on {m.get('data')} (size {ident.get('size')}, mtime "
                         f"{ident.get('mtime')}), not on {panel} (size {st.st_size}, mtime {int(st.st_mtime)})")


def merge(ids_path, panel, outdir):
    with open(ids_path, encoding="utf-8") as f:
        ids = [line.strip() for line in f if line.strip()]
    if not ids:
        raise MergeError(f"{ids_path}: no specification selected")
    pos = {sid: i for i, sid in enumerate(ids)}
    shards, n = shard_dirs(outdir)
    owner, lines = {}, {}
    for k, d in shards:
        check_manifest(d, k, n, panel)
        recs = read_records(os.path.join(d, "results.jsonl"))
        for sid, line in recs.items():
            if sid not in pos:
                raise MergeError(f"shard {k} of {n}: specification {sid} is not in the config")
            if sid in owner:
                raise MergeError(f"specification {sid} is in shards {owner[sid]} and {k} of {n}")
            if pos[sid] % n != k - 1:
                raise MergeError(f"shard {k} of {n}: specification {sid} (position {pos[sid] + 1}) belongs to "
                                 f"shard {pos[sid] % n + 1}")
            owner[sid], lines[sid] = k, line
    missing = [sid for sid in ids if sid not in lines]
    if missing:
        raise MergeError(f"{len(missing)} of {len(ids)} specifications in no shard, e.g. {missing[0]} "
                         f"(shard {pos[missing[0]] % n + 1} of {n})")
    failed = sum(1 for sid in ids if json.loads(lines[sid]).get("status") != "ok")
    out = os.path.join(outdir, "results.jsonl")
    tmp = f"{out}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for sid in ids:
                f.write(lines[sid] + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise MergeError(f"{out}: {e.strerror}")
    print(f"merge: {n} shards, {len(ids)} specifications ({failed} failed) -> {out}")


def main():
    if len(sys.argv) != 4:
        print("usage: grid_merge.py IDS PANEL OUTDIR", file=sys.stderr)
        return 2
    try:
        merge(*sys.argv[1:])
    except MergeError as e:
        print(f"gravrd: error: merge {sys.argv[3]}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"gravrd: error: merge {sys.argv[3]}: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
