#!/usr/bin/env bash
# Fuzzing on the stable toolchain: libFuzzer (libfuzzer-sys builds its C++ with the
# system compiler) driving targets compiled with the coverage instrumentation that
# cargo-fuzz would pass, minus the sanitizer (that needs nightly).
#
#   scripts/fuzz.sh build                 build every target (fuzz/target)
#   scripts/fuzz.sh smoke [SECONDS]       each target for SECONDS (default 20) from its
#                                         seed corpus, FUZZ_SMOKE_JOBS (default 2) at a
#                                         time; fails on any crash, prints a summary
#   scripts/fuzz.sh run TARGET [FLAGS...] a long campaign, e.g. -runs=10000000; new inputs
#                                         go to fuzz/work/TARGET, crashes to fuzz/artifacts
#   scripts/fuzz.sh repro TARGET FILE     run one input (a crash artifact) under the target
#   scripts/fuzz.sh list                  the targets
#
# Seed corpora (committed) are fuzz/corpus/TARGET; fuzz/work and fuzz/artifacts are not.
# Campaigns run under `nice -n 15` (FUZZ_NICE=N to change): the machine is shared; builds
# under `nice -n 10` (FUZZ_BUILD_NICE).
# cmd_model's campaigns use a build without comparison tracing (see LEAN_TARGETS).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ="$ROOT/fuzz"
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN="$FUZZ/target/$TRIPLE/release"
TARGETS=(resp_parse rdb_load aof_load config_text cmd_model)

# What `cargo fuzz build` passes, less `-Zsanitizer`. With an explicit --target, cargo
# applies RUSTFLAGS to the target code only, not to build scripts.
COVERAGE_FLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table --cfg fuzzing"
export RUSTFLAGS="$COVERAGE_FLAGS -Cllvm-args=-sanitizer-coverage-trace-compares"

# Campaigns of these targets use a build without comparison tracing (its own target
# dir, so a second compile of shardis). Their input bytes are choices (indices into
# tables of commands, keys and values), not text the code compares, so the traced
# operands cannot guide mutations; in cmd_model the tracing was about 30% of the time.
# The smoke keeps the one shared build (one compile in CI).
LEAN_TARGETS=(cmd_model)
RUN_BIN=$BIN
NICE=${FUZZ_NICE:-15}
LEAN_DIR="$FUZZ/target/lean"

# Per-target libFuzzer options: input size bound and per-input time limit.
flags_for() {
    case $1 in
        resp_parse) echo "-max_len=4096 -timeout=10" ;;
        rdb_load) echo "-max_len=8192 -timeout=10" ;;
        aof_load) echo "-max_len=4096 -timeout=10" ;;
        config_text) echo "-max_len=2048 -timeout=10" ;;
        cmd_model) echo "-max_len=512 -timeout=10" ;;
    esac
}

build() {
    echo "== building fuzz targets ($TRIPLE, release + debug assertions + overflow checks)"
    local t0=$SECONDS
    # fuzz/target even when the caller set CARGO_TARGET_DIR (scripts/test.sh honours
    # it): $BIN is there, and the main build's target dir keeps its lock to itself.
    CARGO_TARGET_DIR="$FUZZ/target" nice -n "${FUZZ_BUILD_NICE:-10}" cargo build --manifest-path "$FUZZ/Cargo.toml" --release \
        --target "$TRIPLE" --bins
    echo "== built in $((SECONDS - t0)) s"
}

is_lean() {
    local t
    for t in "${LEAN_TARGETS[@]}"; do [[ $t == "$1" ]] && return 0; done
    return 1
}

# build_lean TARGET: TARGET without comparison tracing, into $LEAN_DIR.
build_lean() {
    echo "== building $1 without comparison tracing ($LEAN_DIR)"
    local t0=$SECONDS
    RUSTFLAGS="$COVERAGE_FLAGS" CARGO_TARGET_DIR="$LEAN_DIR" nice -n 10 cargo build \
        --manifest-path "$FUZZ/Cargo.toml" --release --target "$TRIPLE" --bin "$1"
    echo "== built in $((SECONDS - t0)) s"
}

check_target() {
    local t
    for t in "${TARGETS[@]}"; do [[ $t == "$1" ]] && return 0; done
    echo "unknown target '$1' (targets: ${TARGETS[*]})" >&2
    exit 2
}

# run_target TARGET LOG WORKDIR EXTRA_FLAGS...: libFuzzer over WORKDIR (where new inputs
# go) plus the seeds; the output goes to LOG, progress lines to the terminal. Returns
# libFuzzer's exit status.
run_target() {
    local t=$1 log=$2 work=$3 art="$FUZZ/artifacts/$1" rc
    shift 3
    mkdir -p "$work" "$art" "$FUZZ/corpus/$t"
    set +e
    # shellcheck disable=SC2046
    nice -n "$NICE" "$RUN_BIN/$t" $(flags_for "$t") -artifact_prefix="$art/" -print_final_stats=1 "$@" \
        "$work" "$FUZZ/corpus/$t" 2>&1 | tee "$log" \
        | grep --line-buffered -E '^#[0-9]+.*(pulse|DONE)|ERROR|panicked|SUMMARY|Test unit written' | sed -u "s/^/[$t] /"
    rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

stat_of() { sed -n "s/^stat::$2: *//p" "$1" | tail -1; }

# smoke_one TARGET SECONDS RESULTS: TARGET for SECONDS from the committed seeds only (a
# scratch dir, leaving a campaign's fuzz/work alone); writes its summary line to
# RESULTS/TARGET.ok or RESULTS/TARGET.failed. Always returns 0.
smoke_one() {
    local t=$1 secs=$2 results=$3 rc=0 log work runs speed
    log=$(mktemp)
    work=$(mktemp -d)
    echo "== smoke $t (${secs} s)"
    run_target "$t" "$log" "$work" -max_total_time="$secs" || rc=$?
    rm -rf "$work"
    runs=$(stat_of "$log" number_of_executed_units)
    speed=$(stat_of "$log" average_exec_per_sec)
    if [[ $rc -ne 0 ]] || grep -q 'SUMMARY: libFuzzer\|panicked at' "$log"; then
        printf '  %-12s FAILED (exit %s) after %s runs; log %s' "$t" "$rc" "${runs:-?}" "$log" >"$results/$t.failed"
        { echo "== $t failed; the end of its log:"; tail -n 40 "$log"; } | sed "s/^/[$t] /"
    else
        printf '  %-12s ok  %9s runs  %7s exec/s' "$t" "${runs:-?}" "${speed:-?}" >"$results/$t.ok"
        rm -f "$log"
    fi
    return 0
}

# Targets run FUZZ_SMOKE_JOBS at a time (default 2: libFuzzer uses one core), their
# progress lines prefixed with the target's name.
smoke() {
    local secs=${1:-20} jobs=${FUZZ_SMOKE_JOBS:-2} failed=() t running=0 results summary=""
    build
    results=$(mktemp -d)
    local t0=$SECONDS
    for t in "${TARGETS[@]}"; do
        smoke_one "$t" "$secs" "$results" &
        running=$((running + 1))
        if [[ $running -ge $jobs ]]; then
            wait -n || true
            running=$((running - 1))
        fi
    done
    wait
    for t in "${TARGETS[@]}"; do
        if [[ -f $results/$t.ok ]]; then
            summary+=$'\n'$(cat "$results/$t.ok")
        else
            failed+=("$t")
            summary+=$'\n'$(cat "$results/$t.failed" 2>/dev/null || printf '  %-12s FAILED (no result)' "$t")
        fi
    done
    rm -rf "$results"
    echo "== fuzz smoke summary ($jobs at a time, $((SECONDS - t0)) s):$summary"
    # A libtest-style line, so that scripts/test.sh counts the targets.
    local nfailed=${#failed[@]}
    if [[ $nfailed -gt 0 ]]; then
        echo "== FAILED: ${failed[*]} (reproduce: scripts/fuzz.sh repro TARGET fuzz/artifacts/TARGET/<file>)"
        echo "fuzz smoke: test result: FAILED. $((${#TARGETS[@]} - nfailed)) passed; $nfailed failed"
        exit 1
    fi
    echo "== all ${#TARGETS[@]} targets ran without a crash"
    echo "fuzz smoke: test result: ok. ${#TARGETS[@]} passed; 0 failed"
}

case ${1:-} in
    build) build ;;
    list) printf '%s\n' "${TARGETS[@]}" ;;
    smoke) smoke "${2:-20}" ;;
    run)
        [[ $# -ge 2 ]] || { echo "usage: $0 run TARGET [libFuzzer flags]" >&2; exit 2; }
        check_target "$2"
        t=$2
        shift 2
        build
        if is_lean "$t"; then
            build_lean "$t"
            RUN_BIN="$LEAN_DIR/$TRIPLE/release"
        fi
        log="$FUZZ/work/$t.log"
        mkdir -p "$FUZZ/work"
        start=$SECONDS
        rc=0
        run_target "$t" "$log" "$FUZZ/work/$t" "$@" || rc=$?
        secs=$((SECONDS - start))
        echo "== $t: exit $rc, $(stat_of "$log" number_of_executed_units) runs in ${secs} s" \
            "($(stat_of "$log" average_exec_per_sec) exec/s), corpus $(ls "$FUZZ/work/$t" | wc -l) new +" \
            "$(ls "$FUZZ/corpus/$t" | wc -l) seed files; log $log"
        exit "$rc"
        ;;
    repro)
        [[ $# -eq 3 ]] || { echo "usage: $0 repro TARGET FILE" >&2; exit 2; }
        check_target "$2"
        build
        RUST_BACKTRACE=1 "$BIN/$2" $(flags_for "$2") "$3"
        ;;
    *)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
