# perf/lib.sh: helpers the comparison scripts share (sourced, not run).
#
# Needs, for wait_ready, `redis-cli` on PATH; for shardis_bin, `root` (the checkout).

log() { printf '%s\n' "$*" >&2; }

# request_counts P1 P16: sets N_P1 and N_P16 unless the caller did, to the full run's
# counts given, or to a tenth of them under QUICK=1 (a smoke run).
request_counts() {
    if [[ ${QUICK:-0} == 1 ]]; then
        N_P1=${N_P1:-$(($1 / 10))}
        N_P16=${N_P16:-$(($2 / 10))}
    else
        N_P1=${N_P1:-$1}
        N_P16=${N_P16:-$2}
    fi
}
# Stops the script with a line naming it (perf/aof.sh says "aof.sh: ...").
die() { log "${0##*/}: $*"; exit 1; }

# Remembers which of the knobs named in $KNOBS the caller set, before the script fills
# in the defaults: command_line records those.
remember_knobs() {
    local v
    declare -gA ORIG_ENV=()
    for v in $KNOBS; do
        if printenv "$v" >/dev/null; then ORIG_ENV[$v]=1; fi
    done
}

# The exact invocation, for the record: the script plus every knob the caller set.
command_line() {
    local envs=() v
    for v in $KNOBS; do
        if [[ -n ${!v+x} && -n ${!v} && ${ORIG_ENV[$v]+x} ]]; then
            envs+=("$v=$(printf '%q' "${!v}")")
        fi
    done
    printf '%s' "${envs[*]:+${envs[*]} }perf/${0##*/}"
}

# Sets $ncpu; fails unless SERVER_CPU and CLIENT_CPU are both among them.
need_cpus() {
    ncpu=$(nproc)
    ((SERVER_CPU < ncpu && CLIENT_CPU < ncpu)) || die "need CPUs $SERVER_CPU and $CLIENT_CPU; have $ncpu"
}

# Unless SHARDIS_BIN is set, points it at the release build under $CARGO_TARGET_DIR or
# ./target and (unless NO_BUILD=1) builds it first, saying so unless $1 is --quiet.
# Fails if there is no binary at SHARDIS_BIN.
shardis_bin() {
    if [[ -z ${SHARDIS_BIN:-} ]]; then
        SHARDIS_BIN=${CARGO_TARGET_DIR:-$root/target}/release/shardis-server
        if [[ ${NO_BUILD:-0} != 1 ]]; then
            [[ ${1:-} == --quiet ]] || log "building shardis-server (release)"
            (cd "$root" && cargo build --release --quiet --bin shardis-server)
        fi
    fi
    [[ -x $SHARDIS_BIN ]] || die "no shardis binary at $SHARDIS_BIN"
}

# The checkout's short commit, with "+dirty" if src/ has changes.
shardis_revision() {
    local rev
    rev=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n $(cd "$root" && git status --porcelain -- src 2>/dev/null) ]]; then rev+="+dirty"; fi
    printf '%s\n' "$rev"
}

# Notes, before a run, what the report says about it: loadavg_before, started (UTC),
# cpu_model, shardis_rev.
note_run_start() {
    loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)
    started=$(date -u '+%Y-%m-%d %H:%M:%SZ')
    cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    shardis_rev=$(shardis_revision)
}

# The servers started go into pids; the scratch directory is $work.
# Kills and reaps every process in pids, then forgets them.
stop_servers() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
cleanup() {
    stop_servers
    rm -rf "$work"
}
# Starts with no servers and has them stopped and $work removed on exit (130 on
# INT or TERM).
cleanup_on_exit() {
    pids=()
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# Prints $report and, unless RESULTS is /dev/null, appends it to $RESULTS.
publish_report() {
    printf '%s\n' "$report"
    if [[ $RESULTS != /dev/null ]]; then
        printf '%s\n' "$report" >>"$RESULTS"
        log "appended to $RESULTS"
    fi
}

# Sets $port to a port nobody listens on (a global, not a $(...) result, so that the
# next call starts past it even before the first server has bound). Probing with a
# connect is enough here: the servers bind loopback only, within milliseconds. The
# range stays below Linux's ephemeral ports (32768 and up), which a connect probe
# cannot see in use as the local end of some other connection.
next_port=$((20000 + RANDOM % 12000))
pick_port() {
    port=$next_port
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        port=$((port + 1))
    done
    next_port=$((port + 1))
}

# Waits (bounded) until the server on port $1 answers PING; fails, showing its log $3,
# if its process $2 died or never answered.
wait_ready() {
    local port=$1 pid=$2 logf=$3 i
    for ((i = 0; i < 200; i++)); do
        if [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]]; then
            # Someone answering is not enough: it must be the process we started.
            kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; die "server exited; port $port is someone else's"; }
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; die "server exited during startup"; }
        sleep 0.05
    done
    cat "$logf" >&2
    die "server did not answer PING on port $port within 10s"
}

# utime + stime of process $1, all threads, in clock ticks (/proc/PID/stat fields 14
# and 15, counted after the command name, which may hold spaces).
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}

# The median of the numbers on standard input.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- servers and timed runs shared by compare.sh, geo.sh, stream.sh and script.sh ----

tick=$(getconf CLK_TCK)

# Persistence of the servers start_peer and start_shardis start: APPENDONLY=yes turns
# the AOF on for every one of them (appendfsync APPENDFSYNC, default everysec), each in
# a data directory of its own; RDB saving stays off.
aof_args() { echo "--appendonly ${APPENDONLY:-no} --appendfsync ${APPENDFSYNC:-everysec}"; }

# Dies unless process $1 runs binary $2: its command name is the binary's file name,
# cut to the kernel's 15 characters (so a shardis copied to /tmp/s14final is accepted
# by the name it runs under, and a wrapper's pid is not).
check_comm() {
    local want=${2##*/}
    want=${want:0:15}
    [[ $(<"/proc/$1/comm") == "$want" ]] || die "pid $1 is not ${2##*/} (it is $(<"/proc/$1/comm"))"
}

# Starts a Redis-like server, binary $2 (redis-server or valkey-server), as peer $1,
# pinned to SERVER_CPU with persistence off (but see aof_args), and waits until it answers: sets
# ${1}_port and ${1}_pid (the server itself, checked by its command name, so that the
# CPU read from that pid is the server's and not a wrapper's).
start_peer() {
    local name=$1 bin=$2 pid
    pick_port
    mkdir -p "$work/$name-data"
    # shellcheck disable=SC2046 # aof_args is a list of words
    taskset -c "$SERVER_CPU" "$bin" --port "$port" --bind 127.0.0.1 \
        --save "" $(aof_args) --daemonize no --dir "$work/$name-data" \
        --logfile "$work/$name.log" >/dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_ready "$port" "$pid" "$work/$name.log"
    check_comm "$pid" "$bin"
    printf -v "${name}_port" '%s' "$port"
    printf -v "${name}_pid" '%s' "$pid"
}

# Starts $SHARDIS_BIN as $1 (default "shardis") with $2 shards (default 1) pinned to the
# CPU list $3 (default SERVER_CPU), persistence off (but see aof_args); sets ${1}_port and ${1}_pid. shardis
# pins its shard threads itself: --cpus tells it the CPUs taskset allows.
start_shardis() {
    local name=${1:-shardis} shards=${2:-1} cpus=${3:-$SERVER_CPU} pid
    pick_port
    mkdir -p "$work/$name-data"
    # shellcheck disable=SC2046 # aof_args is a list of words
    (cd "$work" && exec taskset -c "$cpus" "$SHARDIS_BIN" --port "$port" --bind 127.0.0.1 \
        --shards "$shards" --cpus "$cpus" --save "" $(aof_args) --dir "$work/$name-data") \
        >"$work/$name.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_ready "$port" "$pid" "$work/$name.log"
    check_comm "$pid" "$SHARDIS_BIN"
    printf -v "${name}_port" '%s' "$port"
    printf -v "${name}_pid" '%s' "$pid"
}

# Prints "ops_per_sec cpu_us_per_op" from a rate $1, CPU ticks $2 before and $3 after,
# and a request count $4.
per_op() {
    awk -v r="$1" -v b="$2" -v a="$3" -v hz="$tick" -v n="$4" \
        'BEGIN { printf "%.0f %.3f\n", r, (a - b) / hz * 1e6 / n }'
}

# One measured redis-benchmark run (pinned to CLIENT_CPU, `--csv`) of $3 requests
# against port $1, with the CPU of the server process $2 read around it. $4 names the
# CSV row to read (the test column, e.g. "GET", or the start of it before " (": "MSET");
# empty means the first row. The rest are redis-benchmark arguments. Prints
# "ops_per_sec cpu_us_per_op".
bench_cpu() {
    local port=$1 pid=$2 n=$3 row=$4 before after out rps
    shift 4
    before=$(cpu_ticks "$pid")
    out=$(taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -n "$n" --csv "$@" 2>"$work/bench.err") \
        || { cat "$work/bench.err" >&2; die "redis-benchmark failed (port $port: $*)"; }
    after=$(cpu_ticks "$pid")
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 20 "$work"/*.log >&2
        die "server on port $port died during: $*"
    fi
    rps=$(awk -F'","' -v t="$row" '
        NR == 1 { next }
        { sub(/^"/, "", $1) }
        t == "" || $1 == t || index($1, t " (") == 1 { print $2; found = 1; exit }
        END { if (!found) exit 1 }' <<<"$out") \
        || { printf '%s\n' "$out" >&2; die "no CSV row ${row:-1} in redis-benchmark output"; }
    per_op "$rps" "$before" "$after" "$n"
}

# The smallest / largest of the numbers on standard input.
minimum() { sort -g | head -n 1; }
maximum() { sort -g | tail -n 1; }

# Runs `$1 WHO` RUNS times for each server WHO in $2 (a list), rotating which server
# goes first so that drifts in machine load hit all alike. Each call prints
# "ops_per_sec cpu_us_per_op ..."; fills CELL_RPS[WHO] with the highest rate and
# CELL_US[WHO] with the lowest CPU per op seen (the run least disturbed by others).
declare -gA CELL_RPS=() CELL_US=()
measure_cell() {
    local run_one=$1 who i run res rps us
    local -a order
    read -ra order <<<"$2"
    local -A all_rps=() all_us=()
    for ((run = 0; run < RUNS; run++)); do
        for ((i = 0; i < ${#order[@]}; i++)); do
            who=${order[(i + run) % ${#order[@]}]}
            # $(...) rather than <(...) so that a failing run stops the script.
            res=$("$run_one" "$who")
            read -r rps us _ <<<"$res"
            all_rps[$who]+="$rps "
            all_us[$who]+="$us "
            log "$(printf '  %-8s %10s ops/s %8s us/op' "$who" "$rps" "$us")"
        done
    done
    for who in "${order[@]}"; do
        CELL_RPS[$who]=$(tr ' ' '\n' <<<"${all_rps[$who]}" | grep . | maximum)
        CELL_US[$who]=$(tr ' ' '\n' <<<"${all_us[$who]}" | grep . | minimum)
    done
}
