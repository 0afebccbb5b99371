#!/usr/bin/python3
"""bench/difficult.py OUT.h5 N [SEED]: a gravrd panel with the shape of fixest's "difficult" benchmark
(fixest's _BENCHMARK/Data generation.R, itself adapted from FixedEffectModels.jl): N rows, three fixed
effects of about N/20 individuals, N/160 firms and N^0.3 years (the issue says the cube root: N^(1/3)
here), where an individual's firms are a window of 21 firms around id_indiv // 8, so the individual-firm
graph is a long chain and alternating projections converge slowly. Outcome y and regressors x1, x2 as
there. Written as a flat gravrd panel (no cities, pairs or exporter index: the reader splits rows
evenly), float64 and int32 columns, deflate-compressed like `gravrd simulate`'s. Uses numpy and h5py."""
import sys
import numpy as np
import h5py


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    n_indiv, n_firm, n_year = n // 20, round(n / 160), round(n ** (1.0 / 3.0))
    indiv = rng.integers(1, n_indiv + 1, n)
    firm = np.minimum(rng.integers(0, 21, n) + np.maximum(1, indiv // 8 - 10), n_firm)
    year = rng.integers(1, n_year + 1, n)
    x1 = 5 * np.cos(indiv) + 5 * np.sin(firm) + 5 * np.sin(year) + rng.random(n)
    x2 = np.cos(indiv) + np.sin(firm) + np.sin(year) + rng.standard_normal(n)
    y = 3 * x1 + 5 * x2 + np.cos(indiv) + np.cos(firm) ** 2 + np.sin(year) + rng.standard_normal(n)
    chunk = min(65536, n)
    with h5py.File(out, "w") as f:
        f.attrs["format"] = np.bytes_("gravrd-panel")
        f.attrs["format_version"] = np.int32(1)
        g = f.create_group("panel")
        for name, v in (("id_indiv", indiv), ("id_firm", firm), ("id_year", year)):
            g.create_dataset(name, data=v.astype(np.int32), chunks=(chunk,), compression="gzip", compression_opts=1)
        for name, v in (("x1", x1), ("x2", x2), ("y", y)):
            g.create_dataset(name, data=v, chunks=(chunk,), compression="gzip", compression_opts=1)
    print(f"{out}: {n} rows, fixed effects of {n_indiv}, {n_firm} and {n_year} levels")


if __name__ == "__main__":
    main()
