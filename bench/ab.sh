#!/bin/bash
# bench/ab.sh -- `bench/run --quick` of this tree and of an earlier commit, side by side.
#
# Usage: bash bench/ab.sh REV [SECTION...]   (REV: the commit to compare with, e.g. HEAD~3;
#   SECTION as for bench/run, default all). ROUNDS (default 2) rounds, each running the old
#   then the new tree, so both meet the same machine state; the other tree's build, state and
#   scripts are its own (a git worktree of REV under $BENCH_WORK).
# Writes bench/results/ab-<date>.md: every timed figure of both trees' results, the median of
#   the rounds, and new/old (below 1.0: the new tree is faster). Raw results files beside it.
# Needs what bench/run needs (it installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:?usage: bash bench/ab.sh REV [SECTION...]}; shift
ROUNDS=${ROUNDS:-2}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/samla-bench-ab}
log() { printf '[bench/ab %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
old_rev=$(git rev-parse --short "$REV"); new_rev=$(git rev-parse --short HEAD)
mkdir -p "$WORK"
if [ ! -d "$WORK/old" ] || [ "$(git -C "$WORK/old" rev-parse --short HEAD)" != "$old_rev" ]; then
  git worktree remove --force "$WORK/old" 2>/dev/null || rm -rf "$WORK/old"
  git worktree add --detach "$WORK/old" "$old_rev" >/dev/null
fi
stamp=$(date +%Y%m%d-%H%M)
out=bench/results/ab-$stamp; mkdir -p "$out"
for round in $(seq 1 "$ROUNDS"); do
  for side in old new; do
    tree=$PWD; [ $side = old ] && tree=$WORK/old
    log "round $round, $side ($([ $side = old ] && echo "$old_rev" || echo "$new_rev"))"
    (cd "$tree" && BENCH_WORK="$WORK/$side-work" bash bench/run --quick "$@" >&2)
    cp "$tree/bench/results/RESULTS-quick.md" "$out/$side-$round.md"
  done
done
python3 bench/ab.py "$out" "$old_rev" "$new_rev" "bash bench/ab.sh $REV $*" > "$out.md"
cat "$out.md"
