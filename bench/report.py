#!/usr/bin/env python3
"""bench/report.py DIR JSON MD: bench/suite.sh's records (DIR/records.tsv, machine.tsv, startup.tsv,
grid.md) as bench/results/latest.json and latest.md. Standard library only. Every figure: its runs, their
median, what it measures and its ratio to the limit measured in the same run; the fixest figures of
../shared/bench/anchors.md (measured on this machine type, fixest 0.12.1; not run here) beside those of
the same model, as ratios."""
import json
import statistics
import sys

# ../shared/bench/anchors.md: (fixest 1 thread est, whole; 2 threads est, whole) in seconds, and what is
# comparable. The anchors' panel has this project's shape (87 x 110 cities, 60 months, 1,148,400 rows)
# but its own synthetic values; their third fixed effect is a segment pair, ours the province pair.
ANCHORS = {
    "3fe": ((0.395, 0.96, 0.372, 0.87), "same shape and size; 3rd FE province pair here, segment pair there"),
    "outcomes4": ((1.002, 1.59, 0.938, 1.48), "same shape; four outcomes c(...) in one call in both"),
    "splitdir": ((0.533, 1.08, 0.501, 1.00), "same shape; split by direction, 2 models in both"),
    "missing20": ((0.374, 0.87, 0.342, 0.78), "same shape; 20% of rows dropped at random in both"),
}
STARTUP_TARGET = 0.15  # issue #16: main model whole process on 1 rank


def read_tsv(path):
    try:
        with open(path) as f:
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]
    except FileNotFoundError:
        return []


def figure(rec):
    (name, item, np_, rows, est, whole, pass_s, cache_s, iters, mem, data, tables, anchor, l0, l1, args, dem) = rec
    est = [float(x) for x in est.split(",")]
    whole = [float(x) for x in whole.split(",")]
    f = {
        "name": name, "item": int(item), "ranks": int(np_), "rows": int(rows), "args": args,
        "iterations": None if iters in ("None", "") else int(iters),
        "demean_s": float(dem),
        "load_before_after": [float(l0), float(l1)],
        "peak_rss_growth_bytes_max_rank": None if mem in ("None", "") else float(mem),
        "model_data_bytes_max_rank": None if data in ("None", "") else float(data),
        "table_bytes_max_rank": None if tables in ("None", "") else float(tables),
        "est": {"measures": "estimation alone: prepare + index + demean + solve + vcov (after reading)",
                "runs_s": est, "median_s": statistics.median(est),
                "limit": "one pass over the model's data at the measured triad bandwidth", "limit_s": float(pass_s)},
        "whole": {"measures": "whole process, launch to exit (1 rank: singleton; more: mpirun)",
                  "runs_s": whole, "median_s": statistics.median(whole),
                  "limit": "reading the panel file's bytes from the page cache (cat)", "limit_s": float(cache_s)},
    }
    for k in ("est", "whole"):
        f[k]["ratio_to_limit"] = f[k]["median_s"] / f[k]["limit_s"] if f[k]["limit_s"] > 0 else None
    if anchor in ANCHORS:
        (e1, w1, e2, w2), note = ANCHORS[anchor]
        fe, fw = (e1, w1) if f["ranks"] == 1 else (e2, w2)
        f["fixest"] = {"threads": min(f["ranks"], 2), "est_s": fe, "whole_s": fw, "comparable": note,
                       "speedup_est": fe / f["est"]["median_s"], "speedup_whole": fw / f["whole"]["median_s"]}
    return f


def main():
    d, out_json, out_md = sys.argv[1:4]
    machine = {k: v for k, v in read_tsv(d + "/machine.tsv")}
    figs = [figure(r) for r in read_tsv(d + "/records.tsv")]
    startup = [{"setting": r[1], "mpi_init_s": float(r[2]), "hello_world_whole_s": float(r[3])}
               for r in read_tsv(d + "/startup.tsv")]
    try:
        grid_md = open(d + "/grid.md").read()
    except FileNotFoundError:
        grid_md = ""
    by = {f["name"]: f for f in figs}
    targets = {}
    if "main-1r" in by:
        targets["main model whole process, 1 rank <= 0.15 s"] = by["main-1r"]["whole"]["median_s"]
    if "splitdir-1r" in by and "splitdir-2r" in by:
        targets["--split dir, 2 ranks vs 1 >= 1.6x (whole)"] = \
            by["splitdir-1r"]["whole"]["median_s"] / by["splitdir-2r"]["whole"]["median_s"]
        targets["--split dir, 2 ranks vs 1 (estimation)"] = \
            by["splitdir-1r"]["est"]["median_s"] / by["splitdir-2r"]["est"]["median_s"]
    if "large100m-2r" in by:
        targets["100M rows, 2 ranks, whole <= 2.5 s"] = by["large100m-2r"]["whole"]["median_s"]
    res = {"machine": machine, "startup": startup, "figures": figs, "targets": targets, "grid_markdown": grid_md}
    with open(out_json, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    md = []
    m = machine
    md.append("# gravrd benchmark suite (bench/suite.sh, `make bench`)\n")
    md.append(f"{m.get('version', '')} (git {m.get('git', '')}), {m.get('date', '')}; {m.get('cpu', '')}, "
              f"{m.get('cores', '')} cores, {m.get('memory_gib', '')} GiB, Linux {m.get('kernel', '')}, "
              f"{m.get('mpi', '')}. Triad bandwidth (bench/membw.c, 1 thread): {m.get('triad_gbs', '')} GB/s; "
              f"fresh memory (first touch of a new mapping, bench/membw.c): {m.get('fresh_gbs', '-')} GB/s. "
              f"Load average at start {m.get('load_start', '')}, at end {m.get('load_end', '')} "
              "(the machine is shared; each figure lists the 1-minute load before and after its runs). "
              f"Medians of {m.get('reps', '')} runs ({m.get('reps_big', '')} for the difficult, 30M and 100M cases).\n")
    loads = [x for f in figs for x in f["load_before_after"]]
    cores = float(m.get("cores", "1") or 1)
    if loads and max(loads) > 2 * cores:
        md.append(f"**Warning: the load average reached {max(loads):.0f} on {cores:.0f} cores during these runs (other "
                  "processes on the machine). Every figure is inflated, and those on more than one rank measure "
                  "the ranks waiting for each other's CPU time in every collective, not scaling: rerun `make bench` "
                  "on a quiet machine before reading ratios.**\n")
    md.append("`est` = estimation alone (every stage after the columns are read); `whole` = the process from launch "
              "to exit (1 rank as an MPI singleton, more through `mpirun`, `OMPI_MCA_pml=ob1`, "
              "`OMPI_MCA_ess_singleton_isolated=1`: docs/scale.md). `x pass` = est / (one pass over the model's "
              "data at the triad bandwidth); `x cache` = whole / (reading the file's bytes from the page cache). "
              "fixest: ../shared/bench/anchors.md (same machine type, not run here), 1 thread beside 1 rank and 2 "
              "threads beside 2 ranks; `fixest/gravrd` > 1 means gravrd is faster.\n")
    md.append("| case | item | ranks | rows | iter | est s | x pass | whole s | x cache | fixest est / whole s | "
              "fixest/gravrd est, whole | peak MB/rank (x data) | load |")
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f in figs:
        fx = f.get("fixest")
        fxs = f"{fx['est_s']:.3f} / {fx['whole_s']:.2f}" if fx else "-"
        fxr = f"{fx['speedup_est']:.1f}x, {fx['speedup_whole']:.1f}x" if fx else "-"
        mem = f["peak_rss_growth_bytes_max_rank"]
        dat = f["model_data_bytes_max_rank"]
        mems = f"{mem / 1e6:.0f} ({mem / dat:.2f}x)" if mem and dat else "-"
        md.append(f"| {f['name']} | {f['item']} | {f['ranks']} | {f['rows']:,} | {f['iterations']} | "
                  f"{f['est']['median_s']:.4f} | {f['est']['ratio_to_limit']:.0f} | {f['whole']['median_s']:.3f} | "
                  f"{f['whole']['ratio_to_limit']:.1f} | {fxs} | {fxr} | {mems} | "
                  f"{f['load_before_after'][0]:.1f}-{f['load_before_after'][1]:.1f} |")
    md.append("")
    md.append("Comparable with fixest: " + "; ".join(f"`{k}`: {v[1]}" for k, v in ANCHORS.items()) +
              ". The difficult, 30M and 100M cases have no fixest figure on this machine type (the anchors' 10M-row "
              "3-FE figure is fixest 3.887 s est / 5.32 s whole on 1 thread).\n")
    if targets:
        md.append("Targets (issue #16): " + "; ".join(f"{k}: {v:.3f}" for k, v in targets.items()) + ".\n")
    if startup:
        md.append("## Start-up (bench/mpi_init.c: MPI_Init, slowest rank; whole = launch to exit)\n")
        md.append("| setting | MPI_Init s | hello-world whole s |")
        md.append("|---|---|---|")
        for s in startup:
            md.append(f"| {s['setting']} | {s['mpi_init_s']:.4f} | {s['hello_world_whole_s']:.3f} |")
        md.append("")
    if grid_md:
        md.append("## Grids (bench/grid.sh, QUICK=1, its own launch settings)\n")
        md.append(grid_md.replace("# bench/grid.sh", "bench/grid.sh"))
    with open(out_md, "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
