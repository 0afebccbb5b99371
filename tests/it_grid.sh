#!/usr/bin/env bash
# it_grid.sh: `gravrd grid --dry-run` (docs/grid.md) on the default simulated panel: every config in
# configs/*.yaml checks cleanly with the expected number of specifications and distinct ids; --shard and
# --only select as documented; without --dry-run one specification runs (smoke); a bad config gives one
# error line naming the file and the line, on 1 rank (directly) and on 3 ranks (one mpirun launch); the
# same config lists the same ids on 1 and 3 ranks.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
D="$TMP/default.h5"
"$GR" simulate --out "$D" >/dev/null 2>&1 || { fail "simulate the default panel"; exit 0; }

# expected specifications per config (a config added without a count here fails until it is listed)
declare -A want=([table3-inference]=24 [a06-balance]=24 [a29-matching]=6 [a30-regular-rd]=24 [table2]=12 [table1-summary]=7 [table3]=24 [a09-a10-alt-fe]=12 [a11-bandwidths]=60 [a12-same-dialect]=6
                 [a13-multiple-treated]=6 [table6]=6 [a15-a17-mechanisms]=5 [a21-a24-control-groups]=72 [grid-150]=150 [sweep-large]=2100
                 [table4-categories]=6 [table5-heterogeneity]=11 [table7-timing]=2 [a07-lagged-heterogeneity]=2
                 [a16-a17-e2w-mechanisms]=5 [a18-a19-flights]=4 [a25-offline-placebo]=8)
n_cfg=0
for cfg in configs/*.yaml; do
  name=$(basename "$cfg" .yaml); n_cfg=$((n_cfg + 1))
  "$GR" grid "$cfg" --dry-run --data "$D" >"$TMP/$name.out" 2>"$TMP/$name.err"; rc=$?
  count=$(tail -n 1 "$TMP/$name.out" | sed -n 's/^# \([0-9]*\) specifications$/\1/p')
  rows=$(grep -vc '^#' "$TMP/$name.out"); ids=$(grep -v '^#' "$TMP/$name.out" | cut -f1 | sort -u | wc -l)
  if [ $rc -ne 0 ]; then fail "$cfg: --dry-run" "exit $rc: $(head -c 300 "$TMP/$name.err")"
  elif [ -s "$TMP/$name.err" ]; then fail "$cfg: --dry-run" "stderr: $(head -c 300 "$TMP/$name.err")"
  elif [ -z "${want[$name]:-}" ]; then fail "$cfg: --dry-run" "no expected count in tests/it_grid.sh (got $count)"
  elif [ "$count" != "${want[$name]}" ] || [ "$rows" != "$count" ] || [ "$ids" != "$count" ]; then
    fail "$cfg: --dry-run" "count '$count', rows $rows, distinct ids $ids; expected ${want[$name]}"
  else ok "$cfg: --dry-run, ${want[$name]} specifications, distinct ids"; fi
done
[ "$n_cfg" -ge 9 ] && ok "configs/: $n_cfg grid configs" || fail "configs/: $n_cfg grid configs" "expected at least 9"
n_sweep=$(tail -n 1 "$TMP/sweep-large.out" | sed -n 's/^# \([0-9]*\) specifications$/\1/p')
[ "${n_sweep:-0}" -ge 1000 ] && ok "sweep-large: $n_sweep specifications (at least 1,000)" || fail "sweep-large size" "'$n_sweep'"

# --shard K/N: the shards partition the listing, in order
G150="$TMP/grid-150.out"
for k in 1 2 3; do "$GR" grid configs/grid-150.yaml --dry-run --data "$D" --shard "$k/3" | grep -v '^#' >"$TMP/shard$k"; done
grep -v '^#' "$G150" | awk 'NR % 3 == 1' >"$TMP/want1"
if cmp -s "$TMP/shard1" "$TMP/want1" && [ "$(cat "$TMP"/shard{1,2,3} | sort | md5sum)" = "$(grep -v '^#' "$G150" | sort | md5sum)" ] &&
   [ "$(wc -l <"$TMP/shard2")" -eq 50 ]; then ok "--shard K/3: every third specification from the K-th, a partition"
else fail "--shard" "$(head -c 200 "$TMP/shard1")"; fi

# --only: exactly the ids asked for
id1=$(grep -v '^#' "$G150" | sed -n 7p | cut -f1); id2=$(grep -v '^#' "$G150" | sed -n 150p | cut -f1)
out=$("$GR" grid configs/grid-150.yaml --dry-run --data "$D" --only "$id2,$id1")
[ "$(echo "$out" | grep -v '^#' | cut -f1 | tr '\n' ' ')" = "$id1 $id2 " ] && echo "$out" | grep -q '^# 2 of 150 specifications selected' &&
  ok "--only: the two specifications asked for, in expansion order" || fail "--only" "$out"

# without --dry-run: the grid runs (smoke: one specification; tests/it_grid_run.sh tests the runner)
id0=$(grep -v '^#' "$TMP/table3.out" | sed -n 1p | cut -f1)
"$GR" grid configs/table3.yaml --data "$D" --only "$id0" --out "$TMP/run" >"$TMP/o" 2>"$TMP/e"; rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$TMP/run/results.jsonl")" -eq 1 ] && grep -q "\"spec_id\":\"$id0\".*\"status\":\"ok\"" "$TMP/run/results.jsonl" &&
  ok "without --dry-run: one specification runs, exit 0, one ok record" || fail "without --dry-run" "rc=$rc $(head -c 300 "$TMP/e")"

# a bad config: one error line naming the file and the line, nothing on stdout
BAD="$TMP/bad.yaml"
printf 'data: x.h5\nbase:\n  formula: "{y} ~ partner | exporter^month + segpair_{bw}"\naxes:\n  y: [log(trade)]\n  bw: [50, 7x5]\n' >"$BAD"
"$GR" grid "$BAD" --dry-run --data "$D" >"$TMP/o" 2>"$TMP/e"; rc=$?
msg="gravrd: error: $BAD:6: axis 'bw': bandwidth '7x5' is not a positive number of km (it fills segpair_{bw} at line 3)"
[ $rc -ne 0 ] && [ "$(cat "$TMP/e")" = "$msg" ] && ! [ -s "$TMP/o" ] && ok "bad config, 1 rank: one line with file and line" ||
  fail "bad config, 1 rank" "rc=$rc $(cat "$TMP/e")"
# on 3 ranks: an unknown column, found in the collective check of the panel (one failing launch)
printf 'data: x.h5\nbase:\n  formula: "log(trade) ~ partner | segpair_{bw}"\naxes:\n  bw: [50, 100]\n  s:\n    - {label: all}\n    - {label: typo, where: "control_tpye != 1"}\n' >"$BAD"
mpi 3 "$GR" grid "$BAD" --dry-run --data "$D" >"$TMP/o" 2>"$TMP/e"; rc=$?
n_err=$(grep -c '^gravrd: error:' "$TMP/e")
[ $rc -ne 0 ] && [ "$n_err" -eq 1 ] && grep -q "^gravrd: error: $BAD:8: unknown column 'control_tpye' in $D (where, specification 2: bw=50, s=typo)$" "$TMP/e" &&
  ! [ -s "$TMP/o" ] && ok "bad config, 3 ranks: one error line with file and line" || fail "bad config, 3 ranks" "rc=$rc $(head -c 400 "$TMP/e")"

# the same ids (and the whole listing) on 1 and 3 ranks
mpi 3 "$GR" grid configs/grid-150.yaml --dry-run --data "$D" >"$TMP/g3.out" 2>"$TMP/e"; rc=$?
[ $rc -eq 0 ] && cmp -s "$TMP/g3.out" "$G150" && ok "grid-150: the same listing and ids on 1 and 3 ranks" ||
  fail "grid-150 on 3 ranks" "rc=$rc $(diff "$TMP/g3.out" "$G150" | head -5) $(head -c 200 "$TMP/e")"
