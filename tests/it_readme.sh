#!/usr/bin/env bash
# it_readme.sh: the README's sample outputs are what the program prints now (tests/readme_outputs.sh
# --check, one TAP line per marked block, a diff on failure; `make readme` rewrites them), every
# transcript block of the README ("$ " lines) is marked, and the checker itself can fail: on a small
# README it writes a block, accepts it, and rejects it once a line is changed.
source "$(dirname "$0")/lib.sh"
CHK="$ROOT/tests/readme_outputs.sh"

# every fenced block that starts with a "$ " command line has an output marker right before it
unmarked=$(awk '/^```/ { if (!open) { open = 1; start = NR; marked = (prev ~ /^<!-- output: .* -->$/); first = 1; next } else { open = 0 } }
                open && first { first = 0; if ($0 ~ /^\$ / && !marked) print start }
                { prev = $0 }' "$ROOT/README.md")
n=$(grep -c '^<!-- output: .* -->$' "$ROOT/README.md")
if [ -z "$unmarked" ] && [ "$n" -ge 5 ]; then ok "README: $n sample outputs marked, no transcript block unmarked"
else fail "README: sample outputs marked" "$n markers; unmarked transcript blocks at lines: $unmarked"; fi

# the checker on a small README: --write fills the block, --check accepts it, a changed line is rejected
mini="$TMP/README.md"
printf '%s\n' 'text before' '<!-- output: transcript -->' '```' '$ ./bin/gravrd --version' 'stale' \
  '$ ./bin/gravrd check --help | head -n 1' '```' 'text after' '<!-- output: ./bin/gravrd --version -->' '```' '```' >"$mini"
if "$CHK" --write "$mini" >"$TMP/w" 2>&1 && [ "$(sed -n 5p "$mini")" = "gravrd $("$GR" --version | sed -E 's/^gravrd ([^ ]*) .*/\1/') (<git>)" ] &&
   [ "$(sed -n 7p "$mini")" = "usage: gravrd check FILE.h5 [options]" ] && [ "$(sed -n 1p "$mini")" = "text before" ] &&
   [ "$(sed -n 9p "$mini")" = "text after" ] && [ "$(wc -l <"$mini")" -eq 13 ] && "$CHK" --check "$mini" >"$TMP/c" 2>&1; then
  ok "readme_outputs.sh: --write regenerates marked blocks only, --check then passes"
else fail "readme_outputs.sh --write / --check" "$(cat "$TMP/w" "$TMP/c" 2>/dev/null | head -c 400 | tr '\n' ' ')"; fi
sed -i '7s/FILE.h5/FILE.hdf5/' "$mini"
if ! "$CHK" --check "$mini" >"$TMP/c" 2>&1 && grep -q '^not ok - README block at line 2: transcript' "$TMP/c" &&
   grep -q '^# > usage: gravrd check FILE.h5' "$TMP/c"; then
  ok "readme_outputs.sh --check fails with a diff when a block is stale"
else fail "readme_outputs.sh --check on a stale block" "$(head -c 300 "$TMP/c" | tr '\n' ' ')"; fi

# the README itself
"$CHK" --check "$ROOT/README.md" >"$TMP/readme" 2>&1
grep -E '^(ok|not ok|# )' "$TMP/readme"
grep -qE '^(ok|not ok)' "$TMP/readme" || fail "readme_outputs.sh --check README.md" "$(head -c 300 "$TMP/readme")"
