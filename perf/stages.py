#!/usr/bin/env python3
"""perf/stages.py: a server's CPU by request stage, from a `perf record -g` file.

Usage: perf/stages.py PERF_DATA [US_PER_OP]
Each sample is classed by its kernel stack (send, receive, softirq, waiting, the
ring's or epoll's own work) or else by its first user frames (keyspace, parse,
dispatch/command, reply, per-turn bookkeeping, connection input), for shardis and
redis-server alike. With US_PER_OP (the run's CPU per request) each class is also
given in microseconds per request. See perf/RESULTS.md, "The request path at -P 1".
"""
import sys, subprocess, collections
data = sys.argv[1]
out = subprocess.run(['perf','script','-i',data,'-F','ip,sym','--no-inline'],capture_output=True,text=True).stdout
stages = collections.Counter(); total=0
def classify(frames):
    # frames: leaf first
    s = ' '.join(frames)
    leaf = frames[0] if frames else ''
    has = lambda *ns: any(n in f for f in frames for n in ns)
    if has('tcp_sendmsg','sock_sendmsg','ksys_write','__sys_sendto','io_send'):
        return 'kernel send (incl. loopback delivery+wakeup)'
    if has('tcp_recvmsg','sock_recvmsg','ksys_read','io_recv','sock_read_iter'):
        return 'kernel receive'
    if has('net_rx_action','do_softirq','__do_softirq'):
        return 'kernel softirq other'
    if has('schedule','finish_task_switch','io_cqring_wait','ep_poll','do_epoll_wait'):
        if has('__schedule','schedule','finish_task_switch'):
            return 'wait/schedule'
        return 'io_uring wait / epoll_wait'
    if has('io_uring','io_submit_sqes','io_issue_sqe','io_poll','io_cqring','__io_','io_','ep_','epoll'):
        return 'io_uring enter/CQE (kernel) / epoll'
    if leaf.startswith('entry_SYSCALL') or has('syscall_exit','entry_SYSCALL','do_syscall_64','syscall_return'):
        return 'syscall entry/exit'
    # user space
    for f in frames[:6]:
        if any(k in f for k in ['hashbrown','storage::db','Db::','dictFind','dictGen','siphash','lookupKey','dbFind','lookup_key','storage::']): return 'keyspace'
        if any(k in f for k in ['lookahead']): return 'keyspace (lookahead prefetch)'
        if any(k in f for k in ['RequestParser','fastrun::frame','processMultibulk','processInputBuffer','resp::parse','lookahead::header','string2ll','createStringObject','sdsnewlen']): return 'parse'
        if any(k in f for k in ['addReply','ReplyWriter','_addReplyToBuffer','reply','prepareClientToWrite','writeToClient','handleClientsWithPendingWrites','_writeToClient']): return 'reply'
        if any(k in f for k in ['cmd::','dispatch','processCommand','call','lookupCommand','getCommand','getGenericCommand','fastrun','histogram','cmdtime']): return 'dispatch/command'
        if any(k in f for k in ['Ring::','io_uring::','reap','submit']): return 'io_uring user side'
        if any(k in f for k in ['worker','Worker','turns','ShardState','beforeSleep','aeProcessEvents','aeMain','serverCron','clientsCron','sync_meta','outmem','busy_door','SegQueue','clock_gettime','Timespec','SystemTime','whileBlockedCron','ustime','mstime','monotonic']): return 'per-turn bookkeeping'
        if any(k in f for k in ['process_input','Conn','conn::','readQueryFromClient','connSocketRead','callHandler']): return 'connection input'
    if has('__vdso','clock_gettime'): return 'per-turn bookkeeping'
    if any(x in leaf for x in ['mem','malloc','free','je_','alloc','Vec']): return 'alloc/memcpy'
    return 'other:' + (leaf[:50] if leaf else '?')
sample=[]
def flush():
    global total
    if sample:
        stages[classify(sample)] += 1; total += 1
for line in out.split('\n'):
    if not line.strip():
        flush(); sample=[]; continue
    parts=line.strip().split(None,1)
    sym = parts[1] if len(parts)>1 else parts[0]
    sample.append(sym)
flush()
cpu = float(sys.argv[2]) if len(sys.argv)>2 else None
for k,v in stages.most_common(40):
    print(f'{100*v/total:6.1f}%  ' + (f'{cpu*v/total:6.2f} us ' if cpu else '') + k)
print('samples', total)
