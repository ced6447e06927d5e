#!/usr/bin/env bash
# Short fuzzing smoke for CI: builds every cargo-fuzz target and runs each for SECONDS
# (default 10) on a copy of its seed corpus, so the committed corpus never grows.
# Works with the stable toolchain alone: no sanitizer (`-s none`), libFuzzer's coverage
# instrumentation still on. Exits non-zero when a target crashes or fails a property; the
# crashing input is then in fuzz/artifacts/<target>/.
#
#   bash fuzz/smoke.sh [SECONDS]
#
# Environment: FUZZ_SANITIZER (default none; `address` needs a nightly toolchain),
# FUZZ_TARGETS (space-separated subset; default all), FUZZ_PROFILE (default dev: the targets
# build in about 2.5 min instead of about 11 min for release on two cores, and a smoke of
# seconds per target finds what it finds either way; release for real fuzzing campaigns).
set -euo pipefail

seconds="${1:-10}"
sanitizer="${FUZZ_SANITIZER:-none}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
# Build once, then run the binaries: every target runs the same build of samla.
profile="${FUZZ_PROFILE:-dev}"
case "$profile" in
    dev) cargo fuzz build --dev -s "$sanitizer" >&2; out=debug ;;
    release) cargo fuzz build -s "$sanitizer" >&2; out=release ;;
    *) echo "FUZZ_PROFILE must be dev or release, not $profile" >&2; exit 2 ;;
esac
bin="${CARGO_TARGET_DIR:-target}/$(rustc -vV | sed -n 's/^host: //p')/$out"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for target in $targets; do
    mkdir -p "$work/$target"
    if [ -d "corpus/$target" ]; then
        cp -r "corpus/$target/." "$work/$target/"
    fi
    log="$work/$target.log"
    status=0
    mkdir -p "artifacts/$target"
    "$bin/$target" "$work/$target" -artifact_prefix="artifacts/$target/" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
    runs="$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log" | tail -n 1)"
    cov="$(grep -aE '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)"
    if [ "$status" -ne 0 ]; then
        failed=1
        echo "FAIL $target (exit $status): ${runs:-no final stats}"
        grep -aE 'panicked at|^==[0-9]+==ERROR|SUMMARY|Test unit written|^Failing input' "$log" | head -n 8 | sed 's/^/    /'
    else
        echo "ok   $target: ${runs:-? runs}, $cov"
    fi
done
exit "$failed"
