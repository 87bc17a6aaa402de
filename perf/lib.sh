# perf/lib.sh: helpers the comparison scripts share (sourced, not run).
#
# Needs `die` and, for wait_ready, `redis-cli` on PATH.

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
