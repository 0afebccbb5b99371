#!/usr/bin/env python3
"""bench/scaling_report.py DIR... > REPORT.md: the Markdown table of bench/scaling.sh output directories
(node.tsv, membw.tsv, runs.tsv, json/): per case and rank count, the median whole process and estimation
(prepare + index + demean + solve + vcov, as bench/suite.sh's `est`), the demeaning alone, the speed-up
over the fewest ranks measured (named in its column), peak memory per rank, the iterations (of every
result: a split has one per sample), runs that failed, and the largest relative difference of any
coefficient or standard error from the fewest ranks' first run (rank invariance)."""
import collections, json, os, statistics as st, sys

EST = ('prepare', 'index', 'demean', 'solve', 'vcov')
runs = collections.defaultdict(list)
failed = collections.Counter()
node, membw = {}, []
for d in sys.argv[1:]:
    for line in open(os.path.join(d, 'node.tsv')):
        k, _, v = line.rstrip('\n').partition('\t')
        node.setdefault(k, v) if not k.startswith('simulate_') else node.__setitem__(k, v)
    if os.path.exists(os.path.join(d, 'membw.tsv')) and not membw:
        membw = [l.split('\t') for l in open(os.path.join(d, 'membw.tsv')).read().split('\n')[1:] if l]
    for line in open(os.path.join(d, 'runs.tsv')).read().split('\n')[1:]:
        if not line:
            continue
        case, np_, rep, rows, whole, rc = line.split('\t')[:6]  # then the launcher, in newer runs
        if rc != '0':
            failed[(case, int(np_))] += 1
            continue
        j = json.load(open(os.path.join(d, 'json', f'{case}-{np_}r-{rep}.json')))
        rs = j.get('results', [j])
        est = sum(sum(set(r['timings'][k] for r in rs)) for k in EST)
        dem = sum(set(r['timings']['demean'] for r in rs))
        coef = [(r.get('sample'), c['term'], c['estimate'], c['std_error']) for r in rs for c in r['coefficients']]
        runs[(case, int(np_))].append(dict(whole=float(whole), est=est, dem=dem, rows=int(rows or 0), coef=coef,
                                           iters='/'.join(str(r.get('iterations')) for r in rs),
                                           peak=j.get('memory', {}).get('peak_rss_above_start_bytes_max_rank')))

print(f"Node: {node.get('cpu')}, {node.get('cores')} cores, {node.get('memory_gib')} GiB, kernel {node.get('kernel')}, "
      f"{node.get('mpi')}, {node.get('gravrd')}, {node.get('date')}.\n")
if membw:
    print('Memory bandwidth, concurrent single-threaded copies of bench/membw (triad, summed): ' +
          ', '.join(f'{c} -> {t} GB/s' for c, t, _ in membw) + '.\n')
sims = [(k[9:], v) for k, v in node.items() if k.startswith('simulate_')]
if sims:
    print('Simulated on all cores: ' + '; '.join(f"{k}: {v.replace(chr(9), ', ')}" for k, v in sims) + '.\n')
print('| case | rows | ranks | runs (failed) | whole (s) | est (s) | demean (s) | speed-up whole / est (vs ranks) | '
      'iterations | peak per rank (GiB) | max rel. diff vs fewest ranks |')
print('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')


def reldiff(a, b):
    """Largest relative difference of estimates and standard errors; the terms must match."""
    if [x[:2] for x in a] != [x[:2] for x in b]:
        sys.exit(f'bench/scaling_report.py: the runs report different terms: {a} vs {b}')
    return max(abs(p - q) / max(abs(q), 1e-300) for x, y in zip(a, b) for p, q in zip(x[2:], y[2:]))



for case in sorted({c for c, _ in runs}, key=lambda c: (len(c), c)):
    nps = sorted(n for c, n in runs if c == case)
    base = runs[(case, nps[0])]
    bw, be = st.median(r['whole'] for r in base), st.median(r['est'] for r in base)
    for n in nps:
        v = runs[(case, n)]
        w, e, dm = (st.median(r[k] for r in v) for k in ('whole', 'est', 'dem'))
        diff = max(reldiff(r['coef'], base[0]['coef']) for r in v)
        peak = st.median(r['peak'] or 0 for r in v) / 2**30
        print(f"| {case} | {v[0]['rows']:,} | {n} | {len(v)} ({failed[(case, n)]}) | {w:.3f} | {e:.3f} | {dm:.3f} | "
              f"{bw / w:.2f} / {be / e:.2f} (vs {nps[0]}) | {v[0]['iters']} | {peak:.2f} | {diff:.1e} |")
