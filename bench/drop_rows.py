#!/usr/bin/python3
"""bench/drop_rows.py IN.h5 OUT.h5 FRACTION SEED

A copy of a gravrd panel file (docs/format.md) without a random FRACTION of its observation rows: the
same cities, pairs, labels and attributes, /panel datasets subset with their type, chunking and
compression, /index/exporter_offsets recounted. Written to OUT.h5.tmp, then renamed. The benchmark
uses it for the "20% of rows missing at random" case, so that the file has the default panel's layout.
Needs Debian's python3-h5py (installed by `make deps`)."""
import os
import sys

import h5py
import numpy as np


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    src, dst, frac, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    if not 0 <= frac < 1:
        sys.exit("drop_rows.py: FRACTION must be in [0, 1)")
    tmp = dst + ".tmp"
    with h5py.File(src, "r") as f, h5py.File(tmp, "w") as g:
        for k, v in f.attrs.items():
            g.attrs[k] = v
        for grp in f:
            if grp not in ("panel", "index"):
                f.copy(f[grp], g, name=grp)
        n = f["panel/pair"].shape[0]
        keep = np.random.default_rng(seed).random(n) >= frac
        kept = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        gi = g.create_group("index")
        for k, v in f["index"].attrs.items():
            gi.attrs[k] = v
        gi.create_dataset("exporter_offsets", data=kept[f["index/exporter_offsets"][:]])
        gp = g.create_group("panel")
        for k, v in f["panel"].attrs.items():
            gp.attrs[k] = v
        m = int(kept[-1])
        for name, d in f["panel"].items():
            chunks = (min(d.chunks[0], max(m, 1)),) if d.chunks else None
            out = gp.create_dataset(name, data=d[:][keep], chunks=chunks, compression=d.compression,
                                    compression_opts=d.compression_opts)
            for k, v in d.attrs.items():
                out.attrs[k] = v
    os.replace(tmp, dst)
    print(f"{dst}: {m} of {n} rows kept")


if __name__ == "__main__":
    main()
