#!/usr/bin/env bash
# it_scale.sh: the balanced partition of gr_panel_open_balanced and the local pairs of gr_panel_open_local
# (panel.h, docs/scale.md). The rule and the readers (tests/test_partition.c) on 1-4 ranks, on a small simulated panel: every row on exactly one rank,
# in file order, with its values, each region's rows shared evenly. Then `estimate --split dir` and
# `--fsplit dir` (whose samples are made of one region's exporters each), and the pooled model, give the
# same results on 1-4 ranks to 1e-10; and a panel whose /cities has no `region` (one group: the
# contiguous rule) too.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
S=$(sim_cached --east 9 --west 12 --months 8 --seed 3) || { fail "simulate the small panel"; exit 0; }

# a copy whose first /panel/pair id is past the /pairs table (bad input for the local-pairs reader)
BADP=$TMP/badpair.h5
cp "$S" "$BADP" && /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); n=len(f['pairs/exporter']); d=f['panel/pair']; d[0]=n; f.close()" "$BADP" 2>"$TMP/h5py.err" \
  || { echo "# SKIP: no h5py to make the bad pair id ($(head -c 200 "$TMP/h5py.err"))"; BADP=""; }
NT=$([ -n "$BADP" ] && echo 5 || echo 4)  # tests that pass per rank (the bad-pair one skips without the copy)
for P in 1 2 3 4; do
  if CMOCKA_MESSAGE_OUTPUT=TAP GR_TEST_PANEL=$S GR_TEST_BADPANEL=$BADP mpi $P "$ROOT/build/tests/test_partition" \
       >"$TMP/part.$P.out" 2>&1 \
       && [ "$(grep -c '^ok ' "$TMP/part.$P.out")" -ge $((NT * P)) ] && ! grep -q '^not ok' "$TMP/part.$P.out"; then
    ok "partition rules, balanced and local-pairs readers on $P ranks"
  else fail "partition rules, balanced and local-pairs readers on $P ranks" "$(grep -m2 'not ok\|rror' "$TMP/part.$P.out" | tr '\n' ' ')"; fi
done
# the bad pair id through estimate: one line, non-zero exit, on 1 and 3 ranks
for P in 1 3; do
  [ -n "$BADP" ] || break
  mpi $P "$GR" estimate --quiet --data "$BADP" --formula 'log(trade) ~ partner | exporter^month' --json "$TMP/bad.json" \
    >"$TMP/bad.out" 2>&1; rc=$?
  if [ $rc -ne 0 ] && [ "$(grep -c . "$TMP/bad.out")" -eq 1 ] && grep -q 'gravrd: error: .*/panel/pair row 0: id [0-9]* out of range' "$TMP/bad.out"; then
    ok "bad pair id refused in one line on $P ranks"
  else fail "bad pair id refused in one line on $P ranks" "rc=$rc $(head -c 300 "$TMP/bad.out" | tr '\n' ' ')"; fi
done

FORM='log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + exp_province^imp_province'
# the same panel without /cities/region: a copy with the dataset's link removed (h5py), read-only input kept
NOREG=$TMP/noregion.h5
cp "$S" "$NOREG" && /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); del f['cities/region']; del f['labels/cities/region']; f.close()" "$NOREG" 2>"$TMP/h5py.err" \
  || { echo "# SKIP: no h5py to drop the region column ($(head -c 200 "$TMP/h5py.err"))"; NOREG=""; }
for panel in "$S" ${NOREG:+"$NOREG"}; do
  tag=$([ "$panel" = "$S" ] && echo region || echo noregion)
  for how in "" "--split dir" "--fsplit dir"; do
    name="$tag ${how:-pooled}"
    for P in 1 2 3 4; do
      # shellcheck disable=SC2086
      if ! mpi $P "$GR" estimate --quiet --data "$panel" --formula "$FORM" --cluster pair $how \
             --json "$TMP/e.$P.json" >"$TMP/e.out" 2>&1; then
        fail "$name: estimate on $P ranks" "$(tail -n 2 "$TMP/e.out" | tr '\n' ' ')"; continue
      fi
      [ $P = 1 ] && continue
      check_close "$name: 1 and $P ranks agree to 1e-10" "$TMP/e.1.json" "$TMP/e.$P.json" 1e-10
    done
  done
done
