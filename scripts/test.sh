#!/usr/bin/env bash
# scripts/test.sh: the one command that runs shardis's whole test suite.
#
# On a fresh Debian 12 machine it first installs what the tests need with apt-get,
# without starting any system service (tests start their own servers on free ports):
# redis-server (interop and digest comparisons), redis-tools (redis-cli,
# redis-benchmark), redis-sentinel, rdiff-backup (scripts/backup and tests/backup.rs),
# iproute2's ss (tests/listen.rs), mount/losetup/mkfs.ext4 (tests/aof_fsync.rs), and the
# libraries of ../shared/tools/memtier_benchmark (tests/cluster.rs).
# Then it builds everything in release mode and runs every test target (unit,
# integration, benches in test mode) plus doc tests. Integration tests use the
# release-built server binary (Cargo's CARGO_BIN_EXE_shardis-server for the profile
# under test). Last, the unit tests run once more in the dev profile, where debug
# assertions and integer overflow checks are on (built into target/debug, so the
# release artifacts are untouched).
#
# Uses cargo-nextest when installed (parallel, per-test process isolation), falling
# back to `cargo test`. While the release build and the tests run, the fuzz targets and
# the dev-profile unit tests are built in the background at the lowest CPU priority
# (nice 19): the tests mostly wait on servers, so those builds use idle CPU instead of
# running after them. Each phase's wall time is printed as it ends and in a table at
# the end. Exits non-zero on any failure and ends with one summary line:
#   tests: N passed, M failed
#
# Env: NO_INSTALL=1 skips installing (missing tools are reported, and the tests that
# need them fail); DEBUG_UNIT_TESTS=0 skips the debug-mode unit test run; FUZZ_SMOKE=0
# skips the fuzz smoke (FUZZ_SMOKE_SECONDS per target, default 10); PREBUILD=0 builds
# the fuzz targets and the dev-profile unit tests when their phase comes instead of in
# the background; CARGO_TARGET_DIR is honoured.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
start=$(date +%s)

log() { printf '==> %s\n' "$*"; }

# Wall time per phase, for the CI log: `phase_done NAME` ends the phase begun at the
# previous call (or at the start).
phase_names=()
phase_secs=()
phase_t0=$start
phase_done() {
    local now
    now=$(date +%s)
    phase_names+=("$1")
    phase_secs+=($((now - phase_t0)))
    log "phase $1 took $((now - phase_t0)) s"
    phase_t0=$now
}
phase_table() {
    local i
    echo "test.sh phases (wall seconds):"
    for i in "${!phase_names[@]}"; do
        printf '  %-34s %5d\n' "${phase_names[$i]}" "${phase_secs[$i]}"
    done
}

# Every program the tests run, and the Debian package that provides it.
declare -A tool_package=(
    [redis-server]=redis-server
    [redis-cli]=redis-tools
    [redis-benchmark]=redis-tools
    [redis-check-aof]=redis-tools
    [redis-check-rdb]=redis-tools
    [redis-sentinel]=redis-sentinel
    [rdiff-backup]=rdiff-backup
    [ss]=iproute2
    [prlimit]=util-linux
    [losetup]=mount
    [mount]=mount
    [mkfs.ext4]=e2fsprogs
    [g++]=g++
)
# Python modules tests import with /usr/bin/python3 (tests/cluster.rs: redis-py's RedisCluster).
declare -A py_package=(
    [redis]=python3-redis
)
# Shared libraries of the prebuilt ../shared/tools/memtier_benchmark (tests/cluster.rs
# runs it; its README lists them).
declare -A lib_package=(
    [libevent-2.1.so.7]=libevent-2.1-7
    [libevent_openssl-2.1.so.7]=libevent-openssl-2.1-7
    [libssl.so.3]=libssl3
    [libz.so.1]=zlib1g
)

install_deps() {
    local tool missing=() packages=()
    for tool in "${!tool_package[@]}"; do
        command -v "$tool" >/dev/null && continue
        missing+=("$tool")
        [[ " ${packages[*]} " == *" ${tool_package[$tool]} "* ]] || packages+=("${tool_package[$tool]}")
    done
    for tool in "${!py_package[@]}"; do
        /usr/bin/python3 -c "import $tool" 2>/dev/null && continue
        missing+=("python3-module:$tool")
        packages+=("${py_package[$tool]}")
    done
    local libs
    libs=$(/sbin/ldconfig -p 2>/dev/null || true)
    for tool in "${!lib_package[@]}"; do
        grep -q "^[[:space:]]*$tool " <<<"$libs" && continue
        missing+=("lib:$tool")
        packages+=("${lib_package[$tool]}")
    done
    if [[ ${#missing[@]} == 0 ]]; then
        return
    fi
    if [[ ${NO_INSTALL:-0} == 1 ]]; then
        log "NO_INSTALL=1 and missing ${missing[*]} (packages: ${packages[*]}): the tests that need them will fail"
        return
    fi
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || { echo "test.sh: need root (or sudo) to install ${packages[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    log "installing ${packages[*]} (apt-get) for ${missing[*]}"
    # Keep the package's post-install script from starting the system service on
    # port 6379: a policy-rc.d that answers 101 ("action forbidden") does that.
    local policy=/usr/sbin/policy-rc.d placed=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        placed=1
    fi
    local rc=0
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
    if [[ $rc == 0 ]]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${packages[@]}" || rc=$?
    fi
    if [[ $placed == 1 ]]; then "${sudo[@]}" rm -f "$policy"; fi
    [[ $rc == 0 ]] || { echo "test.sh: apt-get failed ($rc)" >&2; exit "$rc"; }
    libs=$(/sbin/ldconfig -p 2>/dev/null || true)
    for tool in "${missing[@]}"; do
        case $tool in
        python3-module:*)
            /usr/bin/python3 -c "import ${tool#python3-module:}" 2>/dev/null && continue ;;
        lib:*)
            grep -q "^[[:space:]]*${tool#lib:} " <<<"$libs" && continue ;;
        *)
            command -v "$tool" >/dev/null && continue ;;
        esac
        echo "test.sh: $tool still missing after apt-get" >&2
        exit 1
    done
}

install_deps
phase_done "install dependencies"

logs=$(mktemp -d)
prebuild_pid=
# The background build (its own process group) is stopped if the script ends early.
trap '[[ -n $prebuild_pid ]] && kill -- -"$prebuild_pid" 2>/dev/null; rm -rf "$logs"' EXIT
trap 'exit 130' INT TERM
passed=0
failed=0
status=0

# Prints "PASSED FAILED" counted from a cargo test / nextest log.
count() {
    local s
    # nextest: "Summary [  12.345s] 40 tests run: 38 passed, 1 failed, 1 timed out, 0 skipped".
    # When present it is the whole truth (failed tests' captured output can hold
    # libtest lines that must not be counted again).
    s=$(grep -aE '^ *Summary \[' "$1" | tail -1 || true)
    if [[ -n $s ]]; then
        num() { grep -oE "[0-9]+ $1" <<<"$s" | grep -oE '^[0-9]+' || echo 0; }
        echo "$(num passed) $(($(num failed) + $(num 'timed out')))"
        return
    fi
    # libtest: "test result: ok. 12 passed; 0 failed; ..." (one line per binary).
    grep -aoE 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$1" \
        | awk '{p += $4; f += $6} END {print p + 0, f + 0}'
}

# Runs a test command, teeing its output for counting; remembers a failure.
run_tests() {
    local name=$1
    shift
    log "$*"
    local rc=0 p f
    "$@" 2>&1 | tee "$logs/$name.log" || rc=$?
    read -r p f < <(count "$logs/$name.log")
    # A run that failed without naming a failed test (crash, build error) counts one.
    if [[ $rc != 0 && $f == 0 ]]; then f=1; fi
    if [[ $rc != 0 ]]; then status=1; fi
    passed=$((passed + p))
    failed=$((failed + f))
}

# The dev-profile unit test run at the end, with debug assertions and overflow checks
# (the dev profile's defaults, set explicitly so a profile change cannot turn them off).
debug_unit_tests=(env CARGO_PROFILE_DEV_DEBUG_ASSERTIONS=true CARGO_PROFILE_DEV_OVERFLOW_CHECKS=true
    cargo test --lib --no-fail-fast)
fuzz_smoke=${FUZZ_SMOKE:-1}
debug_unit=${DEBUG_UNIT_TESTS:-1}

# Background builds of what the last phases run, at nice 19 so that they only take CPU
# the release build and the tests leave idle; when the tests are done, the build still
# running is set back to nice 0 (`renice`, as root), or CPU taken by anything else
# on the machine would starve it. The fuzz targets have their own target dir and the
# dev profile its own, so neither waits on the release build's lock. Their errors are
# not reported here: the phases that use them build again (a no-op when this
# succeeded) and report any error there.
prebuild() {
    local t0=$SECONDS
    if [[ $fuzz_smoke != 0 ]]; then
        FUZZ_BUILD_NICE=0 bash scripts/fuzz.sh build || true
    fi
    local t1=$SECONDS
    if [[ $debug_unit != 0 ]]; then
        "${debug_unit_tests[@]}" --no-run || true
    fi
    echo "prebuild: fuzz targets $((t1 - t0)) s, dev-profile unit tests $((SECONDS - t1)) s (wall, in the background)"
}
if [[ ${PREBUILD:-1} != 0 && ($fuzz_smoke != 0 || $debug_unit != 0) ]]; then
    set -m # job control: the background job gets a process group of its own
    (
        renice -n 19 -p "$BASHPID" >/dev/null || true
        prebuild
    ) >"$logs/prebuild.log" 2>&1 &
    prebuild_pid=$!
    set +m
    log "building the fuzz targets and the dev-profile unit tests in the background (log at the end)"
fi

# Build first, so a compile error is reported as such. `cargo test --no-run` builds
# exactly the artifacts the runner below uses (test harnesses, benches in test mode,
# and the release shardis-server binary the integration tests start).
log "cargo test --release --all-targets --no-run"
if ! cargo test --release --all-targets --no-run; then
    echo "test.sh: build failed after $(($(date +%s) - start)) s"
    echo "tests: 0 passed, 1 failed"
    exit 1
fi
phase_done "release build"

if cargo nextest --version >/dev/null 2>&1; then
    # A hung test (say, a server deadlock with a client blocked on a read) is killed
    # after 5 minutes instead of stalling the run. As a tool config this ranks below
    # a repository .config/nextest.toml, should one ever be added.
    cat >"$logs/nextest.toml" <<'TOML'
[profile.default]
slow-timeout = { period = "60s", terminate-after = 5 }
TOML
    run_tests nextest cargo nextest run --release --all-targets --no-fail-fast --failure-output final \
        --tool-config-file "shardis-test-sh:$logs/nextest.toml"
else
    log "cargo-nextest not found; using cargo test"
    run_tests cargo timeout 30m cargo test --release --all-targets --no-fail-fast
fi
phase_done "unit, integration and bench tests"
# Neither nextest nor --all-targets runs doc tests.
run_tests doc cargo test --release --doc
phase_done "doc tests"

if [[ -n $prebuild_pid ]]; then
    log "waiting for the background build"
    renice -n 0 -g "$prebuild_pid" >/dev/null 2>&1 || true
    wait "$prebuild_pid" || true
    prebuild_pid=
    tail -n 1 "$logs/prebuild.log"
    phase_done "wait for the background build"
fi

# A short libFuzzer run of every fuzz target from its committed seeds (fuzz/README.md):
# a crash fails the suite. Long campaigns are `scripts/fuzz.sh run TARGET`.
if [[ $fuzz_smoke != 0 ]]; then
    run_tests fuzz-smoke bash scripts/fuzz.sh smoke "${FUZZ_SMOKE_SECONDS:-10}"
    phase_done "fuzz smoke"
fi

# The unit tests again with debug assertions and overflow checks. Integration tests
# stay release-only: they exercise the same code through the server binary.
if [[ $debug_unit != 0 ]]; then
    run_tests debug "${debug_unit_tests[@]}"
    phase_done "dev-profile unit tests"
fi

elapsed=$(($(date +%s) - start))
echo
phase_table
echo "test.sh: finished in ${elapsed} s"
if [[ $status == 0 && $failed == 0 && $passed -gt 0 ]]; then
    echo "tests: $passed passed, 0 failed"
    exit 0
fi
if [[ $passed == 0 && $failed == 0 ]]; then failed=1; fi
echo "tests: $passed passed, $failed failed"
exit 1
