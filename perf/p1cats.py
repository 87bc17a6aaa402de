#!/usr/bin/env python3
"""perf/p1cats.py: a server's CPU per request by the function that spent it.

Usage: perf/p1cats.py PERF_DATA:US_PER_OP [PERF_DATA:US_PER_OP ...]

Each sample of a `perf record` file counts for the function it landed in (its leaf,
not its callers), put in one of a few classes that mean the same for shardis and for
redis-server: the kernel's TCP/IP and memory work, the syscall layer each uses to reach
it (io_uring's submission, task work and completions; or epoll plus read/write, with
the file lookups), the scheduler/timer/interrupt work, syscall entry, and user space.
Multiplied by the run's CPU µs per request. Classes by leaf keep a cache miss where it
was taken: a socket line that redis-server first touches in `tcp_poll` (epoll) is first
touched by shardis in `tcp_recvmsg` (TCP), so compare the totals, not one class alone.
`perf/stages.py` classes by call stack instead. See perf/RESULTS.md, "The request path
at -P 1, counted (branch p1path19)".
"""
import re
import subprocess
import sys


def cls(dso, sym):
    if dso != 'k':
        return 'user'
    if re.search(r'^(io_|__io|llist_reverse|io_uring)', sym):
        return 'kernel: io_uring'
    if re.search(r'^(ep_|do_epoll|__list_del_entry|sock_poll|tcp_poll|fdget|fput|vfs_|rw_verify|ksys_|'
                 r'sock_write_iter|sock_read_iter|security_file|__fsnotify|fsnotify|mutex_)', sym):
        return 'kernel: epoll + read/write'
    if re.search(r'^(finish_task_switch|__schedule|schedule|pick_|enqueue_task|dequeue_task|update_curr|'
                 r'psi_|hrtimer|__hrtimer|tick_|irq|apic|sysvec|native_write_msr|read_tsc)', sym):
        return 'kernel: switch/timer/irq'
    if re.search(r'syscall|^entry_|^do_syscall|exit_to_user', sym):
        return 'kernel: syscall entry'
    return 'kernel: TCP/IP, skb, rest'


runs = [a.rsplit(':', 1) for a in sys.argv[1:]]
if not runs:
    sys.exit(__doc__)
res = []
for data, us in runs:
    out = subprocess.run(['perf', 'report', '-i', data, '--no-children', '--sort', 'sym', '-q', '--stdio', '-g', 'none'],
                         capture_output=True, text=True).stdout
    c = {}
    for line in out.splitlines():
        m = re.match(r'\s*([\d.]+)%\s+\[(.)\]\s+(.*)', line)
        if m:
            k = cls(m.group(2), m.group(3).strip())
            c[k] = c.get(k, 0) + float(m.group(1)) * float(us) / 100
    res.append(c)
names = [d.rsplit('/', 1)[-1].removesuffix('.data') for d, _ in runs]
print(f"{'µs per request':28s} " + ' '.join(f'{n:>8s}' for n in names))
for k in sorted(set().union(*res)):
    print(f'{k:28s} ' + ' '.join(f'{c.get(k, 0):8.2f}' for c in res))
print(f"{'total':28s} " + ' '.join(f'{sum(c.values()):8.2f}' for c in res))
