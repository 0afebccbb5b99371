#!/usr/bin/env python3
"""bench/commodel.py [LATEST.json]: docs/scale.md's model of one demeaning iteration (conjugate gradient,
src/fe.c) on N nodes of 32 cores: the compute, measured here, against the allreduce of the level sums of
the fixed effects whose levels cross ranks, from assumed network figures. Prints a Markdown table.

Measured (from bench/results/latest.json, case scale30m-1r, else the defaults below): the seconds per row
per iteration of the demeaning on one core, t_row = demean / iterations / rows.
Assumed (stated in the table's caption, change them here): a node's memory bandwidth shared by its 32 cores
(each core gets NODE_BW / 32, against the single-core triad measured here), an interconnect of BETA bytes/s
per node and ALPHA seconds per message, allreduce as reduce inside the node (shared memory) then a ring
across nodes. Panel: ROWS rows of the study's shape grown to a billion (2 x 2,900 x 2,900 pairs x 60
months), 3 columns demeaned at once; the exporter-month sums are local (an exporter's rows never cross
ranks), the importer-month (5,800 x 60 levels) and province-pair sums (~1,000 levels) are summed."""
import json
import math
import sys

ROWS = 2 * 2900 * 2900 * 60          # 1.009e9
COLS = 3                              # outcome + 2 regressors, demeaned together
L_SHARED = 5800 * 60 + 1000           # levels whose sums cross ranks
L_LOCAL = 5800 * 60                   # exporter-month: never communicated
CORES = 32
NODE_BW = 200e9                       # bytes/s, a 2-socket node's STREAM triad (assumed)
BETA = 12e9                           # bytes/s per node, HDR InfiniBand effective (assumed)
ALPHA = 2e-6                          # s per message (assumed)
SMALL = 3                             # small allreduces per iteration (dot products, convergence)


def main():
    # default: README's bench/run.sh run of 2026-11-22 (load about 1): demean 0.029 s, 13 iterations,
    # 1,148,400 rows on 1 rank, triad 20.1 GB/s
    t_row, triad, src = 0.029 / 13 / 1148400, 20.1e9, "README's run of 2026-11-22, load about 1"
    if len(sys.argv) > 1:
        d = json.load(open(sys.argv[1]))
        for f in d["figures"]:
            # a figure taken under load would make compute look slow and communication cheap: only below 2.5
            if f["name"] == "scale30m-1r" and f.get("demean_s") and f.get("iterations") \
                    and max(f["load_before_after"]) < 2.5:
                triad = float(d["machine"].get("triad_gbs", 20)) * 1e9
                t_row, src = f["demean_s"] / f["iterations"] / f["rows"], f"measured ({f['name']})"
    core_share = NODE_BW / CORES
    t_row_node = t_row * max(1.0, triad / core_share)  # a core's rows at its share of the node's bandwidth
    m = 8 * COLS * L_SHARED
    print(f"t_row = {t_row * 1e9:.2f} ns per row per iteration on one core here ({src}); "
          f"{t_row_node * 1e9:.2f} ns at a 32-core node's per-core bandwidth share; allreduce payload "
          f"{m / 1e6:.1f} MB per iteration ({8 * COLS * L_LOCAL / 1e6:.1f} MB more if the exporter-month sums "
          "were not local)\n")
    print("| nodes | ranks | rows/rank | compute ms/iter | allreduce ms/iter | comm/compute | with exporter sums too |")
    print("|---|---|---|---|---|---|---|")
    for n in (1, 2, 4, 8, 16, 32, 64):
        p = n * CORES
        comp = ROWS / p * t_row_node
        intra = m / (NODE_BW / 4) * 2 + math.log2(CORES) * 0.5e-6  # reduce + broadcast through shared memory
        inter = 0.0 if n == 1 else 2 * (n - 1) / n * m / BETA + 2 * (n - 1) * ALPHA
        small = SMALL * (math.log2(CORES) * 0.5e-6 + (0 if n == 1 else math.log2(n) * ALPHA))
        comm = intra + inter + small
        m2 = m + 8 * COLS * L_LOCAL
        comm2 = m2 / (NODE_BW / 4) * 2 + (0 if n == 1 else 2 * (n - 1) / n * m2 / BETA + 2 * (n - 1) * ALPHA) + small
        print(f"| {n} | {p} | {ROWS / p / 1e6:.2f} M | {comp * 1e3:.2f} | {comm * 1e3:.2f} | {comm / comp:.2f} | "
              f"{comm2 / comp:.2f} |")


if __name__ == "__main__":
    main()
