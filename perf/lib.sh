# perf/lib.sh: helpers the comparison scripts share (sourced, not run).
#
# Needs, for wait_ready, `redis-cli` on PATH; for shardis_bin, `root` (the checkout).

log() { printf '%s\n' "$*" >&2; }
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
# connect is enough here: the servers bind loopback only, within milliseconds.
next_port=$((20000 + RANDOM % 20000))
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
