"""MVCC storage and Percolator transaction rules of the PD/TiKV test cluster.

This module is the storage engine of the test fixture (tests/tikv/cluster.py);
it knows nothing of gRPC, regions or stores. It keeps two separate keyspaces:

  * the transactional keyspace, in Percolator's three columns: `data`
    (key, start_ts) -> value, `lock` key -> Lock, and `write`
    key -> [(commit_ts, Write)] newest first, where a Write records the
    start_ts of the txn that wrote it and its kind (put, delete, lock-only or
    rollback);
  * the raw keyspace, a plain ordered map for RawKV commands. Raw and
    transactional keys never mix.

Every command runs under one condition variable (`Mvcc.cv`), so each command
is atomic and commands are serializable. A command first checks every key and
only then writes, so a command that returns an error changed nothing (as a
TiKV command whose write batch is discarded). Pessimistic lock waits release
the condition while they wait and wake on every lock removal; a wait that
would close a cycle of waiting txns reports a deadlock instead.

Commands return plain Python results; the caller (cluster.py) turns them into
kvrpcpb messages. Errors are `KeyErr` values naming the KeyError variant and
its fields, in the shapes TiKV sends. Timestamps are PD TSOs:
physical ms << 18 | logical, and lock TTLs count from the physical part of
the lock's start_ts, as in TiKV.
"""

import bisect
import threading
import time

TS_MAX = (1 << 64) - 1

# kvrpcpb.Op values used in locks
OP_PUT, OP_DEL, OP_LOCK, OP_ROLLBACK, OP_INSERT, OP_PLOCK, OP_CHECK_NOT_EXISTS = 0, 1, 2, 3, 4, 5, 6

# Write kinds
W_PUT, W_DEL, W_LOCK, W_ROLLBACK = "put", "delete", "lock", "rollback"


def physical(ts):
    return ts >> 18


class Lock:
    __slots__ = ("primary", "start_ts", "ttl", "op", "for_update_ts", "txn_size",
                 "use_async_commit", "min_commit_ts", "secondaries", "value")

    def __init__(self, primary, start_ts, ttl, op, for_update_ts=0, txn_size=0,
                 use_async_commit=False, min_commit_ts=0, secondaries=(), value=b""):
        self.primary = primary
        self.start_ts = start_ts
        self.ttl = ttl
        self.op = op
        self.for_update_ts = for_update_ts
        self.txn_size = txn_size
        self.use_async_commit = use_async_commit
        self.min_commit_ts = min_commit_ts
        self.secondaries = list(secondaries)
        self.value = value

    def expired(self, current_ts):
        return physical(self.start_ts) + self.ttl < physical(current_ts)


class Write:
    __slots__ = ("start_ts", "kind")

    def __init__(self, start_ts, kind):
        self.start_ts = start_ts
        self.kind = kind


class KeyErr(Exception):
    """A kvrpcpb.KeyError: `kind` is the field name (locked, conflict,
    already_exist, deadlock, commit_ts_expired, txn_not_found, primary_mismatch,
    txn_lock_not_found, abort, retryable); `fields` its contents (a Lock
    object for locked / primary_mismatch)."""

    def __init__(self, kind, at=b"", **fields):
        super().__init__(kind)
        self.kind = kind
        self.key = at
        self.fields = fields


class OrderedMap:
    """A dict with a sorted key list, enough for scans of test-sized data."""

    def __init__(self):
        self.d = {}
        self.keys = []

    def get(self, k, default=None):
        return self.d.get(k, default)

    def __contains__(self, k):
        return k in self.d

    def set(self, k, v):
        if k not in self.d:
            bisect.insort(self.keys, k)
        self.d[k] = v

    def pop(self, k):
        if k in self.d:
            del self.d[k]
            i = bisect.bisect_left(self.keys, k)
            del self.keys[i]

    def range(self, lo, hi, reverse=False):
        """Keys in [lo, hi); hi None = unbounded."""
        i = bisect.bisect_left(self.keys, lo)
        j = len(self.keys) if hi is None else bisect.bisect_left(self.keys, hi)
        ks = self.keys[i:j]
        return reversed(ks) if reverse else ks


class Mvcc:
    def __init__(self, lock_wait_ms=300):
        self.cv = threading.Condition()
        self.data = {}            # (key, start_ts) -> value
        self.locks = OrderedMap()  # key -> Lock
        self.writes = OrderedMap()  # key -> [(commit_ts, Write)], oldest first
        self.txn_writes = {}        # (key, start_ts) -> (commit_ts, Write)
        self.raw = OrderedMap()    # key -> value
        self.max_ts = 0            # the largest read ts seen (TiKV's concurrency manager)
        self.lock_wait_ms = lock_wait_ms
        self.waiting = {}          # start_ts of a waiting txn -> start_ts it waits for

    # ---- helpers (caller holds cv) ----

    def _write_list(self, key):
        """key's write records, newest first (an iterator)."""
        return reversed(self.writes.get(key) or ())

    def _add_write(self, key, commit_ts, w):
        lst = self.writes.get(key)
        if lst is None:
            lst = []
            self.writes.set(key, lst)
        if not lst or commit_ts >= lst[-1][0]:
            lst.append((commit_ts, w))  # the usual case: a newer commit
        else:
            bisect.insort(lst, (commit_ts, w), key=lambda e: e[0])
        self.txn_writes[(key, w.start_ts)] = (commit_ts, w)

    def _find_txn_write(self, key, start_ts):
        """(commit_ts, Write) written by the txn start_ts on key, or None."""
        return self.txn_writes.get((key, start_ts))

    def _latest_commit(self, key):
        """Newest (commit_ts, Write) that is not a rollback, or None."""
        for commit_ts, w in self._write_list(key):
            if w.kind != W_ROLLBACK:
                return commit_ts, w
        return None

    def _visible(self, key, ts):
        """(value or None, commit_ts) of key as of ts."""
        for commit_ts, w in self._write_list(key):
            if commit_ts > ts:
                continue
            if w.kind == W_PUT:
                return self.data.get((key, w.start_ts)), commit_ts
            if w.kind == W_DEL:
                return None, commit_ts
        return None, 0

    def _remove_lock(self, key):
        self.locks.pop(key)
        self.cv.notify_all()

    def _rollback_key(self, key, start_ts):
        lock = self.locks.get(key)
        if lock is not None and lock.start_ts == start_ts:
            self._remove_lock(key)
            self.data.pop((key, start_ts), None)
        if self._find_txn_write(key, start_ts) is None:
            self._add_write(key, start_ts, Write(start_ts, W_ROLLBACK))

    def _commit_key(self, key, lock, commit_ts):
        kind = {OP_PUT: W_PUT, OP_INSERT: W_PUT, OP_DEL: W_DEL}.get(lock.op, W_LOCK)
        if kind == W_PUT:
            self.data[(key, lock.start_ts)] = lock.value
        self._add_write(key, commit_ts, Write(lock.start_ts, kind))
        self._remove_lock(key)

    def observe_ts(self, ts):
        if ts != TS_MAX and ts > self.max_ts:
            self.max_ts = ts

    # ---- snapshot reads ----

    def _read_check_lock(self, key, ts, bypass, access, rc):
        """None if key may be read at ts; ('value', v) when the lock belongs to
        a txn the reader knows committed (access); raises KeyErr locked."""
        lock = self.locks.get(key)
        if lock is None or rc:
            return None
        if lock.start_ts > ts or lock.op in (OP_LOCK, OP_PLOCK):
            return None
        if lock.min_commit_ts > ts:
            return None
        if lock.start_ts in bypass:
            return None
        if ts == TS_MAX and key == lock.primary and not lock.use_async_commit:
            return None  # a latest-version read of a primary reads the last commit
        if lock.start_ts in access:
            return ("value", lock.value if lock.op in (OP_PUT, OP_INSERT) else None)
        raise KeyErr("locked", key, lock=lock, key=key)

    def get(self, key, ts, bypass=(), access=(), rc=False):
        """(value or None, commit_ts); raises KeyErr locked."""
        with self.cv:
            self.observe_ts(ts)
            r = self._read_check_lock(key, ts, bypass, access, rc)
            if r is not None:
                return r[1], 0
            return self._visible(key, ts)

    def batch_get(self, keys, ts, bypass=(), access=(), rc=False):
        """[(key, value, commit_ts, KeyErr or None)] for keys that exist or
        are locked."""
        out = []
        with self.cv:
            self.observe_ts(ts)
            for k in keys:
                try:
                    r = self._read_check_lock(k, ts, bypass, access, rc)
                    v, cts = (r[1], 0) if r is not None else self._visible(k, ts)
                    if v is not None:
                        out.append((k, v, cts, None))
                except KeyErr as e:
                    out.append((k, b"", 0, e))
        return out

    def scan(self, lo, hi, limit, ts, reverse=False, key_only=False,
             bypass=(), access=(), rc=False, pred=None):
        """Pairs in [lo, hi) (hi None = unbounded), ascending or descending,
        at most limit of them; a locked key is a pair with a KeyErr."""
        out = []
        with self.cv:
            self.observe_ts(ts)
            keys = sorted(set(self.writes.range(lo, hi)) | set(self.locks.range(lo, hi)),
                          reverse=reverse)
            for k in keys:
                if pred is not None and not pred(k):
                    continue
                if len(out) >= limit:
                    break
                try:
                    r = self._read_check_lock(k, ts, bypass, access, rc)
                    v, cts = (r[1], 0) if r is not None else self._visible(k, ts)
                    if v is not None:
                        out.append((k, b"" if key_only else v, cts, None))
                except KeyErr as e:
                    out.append((k, b"", 0, e))
        return out

    # ---- Percolator writes ----

    def prewrite(self, mutations, primary, start_ts, ttl, for_update_ts=0,
                 pessimistic_actions=(), txn_size=0, min_commit_ts=0,
                 use_async_commit=False, secondaries=(), try_one_pc=False,
                 max_commit_ts=0, skip_constraint_check=False, is_retry=False):
        """mutations: [(op, key, value)]. Returns (errors, min_commit_ts,
        one_pc_commit_ts); errors is a list of KeyErr, and when it is not
        empty nothing was written. is_retry: the request's
        Context.is_retry_request (a resend after a lost answer)."""
        with self.cv:
            errors = []
            todo = []
            for i, (op, key, value) in enumerate(mutations):
                pa = pessimistic_actions[i] if i < len(pessimistic_actions) else 0
                try:
                    r = self._prewrite_check(op, key, start_ts, for_update_ts, pa,
                                             skip_constraint_check, is_retry)
                    if r is not None:
                        todo.append((op, key, value, r))
                except KeyErr as e:
                    errors.append(e)
            if errors:
                return errors, 0, 0
            # A prewrite sent again (its answer was lost) finds its own locks
            # or, after 1PC or a resolver, its own commit records: it answers
            # with what those say, so every answer names one commit ts.
            done = [st[1] for _, _, _, st in todo if isinstance(st, tuple) and st[0] == "done"]
            committed = [st[1] for _, _, _, st in todo if isinstance(st, tuple) and st[0] == "committed"]
            todo = [t for t in todo if t[3] == "write"]
            prev_min = max([lk.min_commit_ts for lk in done if lk.use_async_commit] + committed + [0])
            if not todo:
                if try_one_pc and committed and not done:
                    return [], 0, max(committed)
                return [], prev_min if (use_async_commit or try_one_pc) else 0, 0
            final_min = 0
            one_pc = try_one_pc and not done and not committed
            async_commit = use_async_commit and not one_pc
            if use_async_commit or try_one_pc:
                final_min = max(self.max_ts + 1, start_ts + 1, for_update_ts + 1, min_commit_ts)
                if max_commit_ts and final_min > max_commit_ts:
                    # TiKV falls back to 2PC silently: locks without async
                    # commit, and min_commit_ts / one_pc_commit_ts 0.
                    final_min, one_pc, async_commit = 0, False, False
            for op, key, value, state in todo:
                if one_pc:
                    kind = {OP_PUT: W_PUT, OP_INSERT: W_PUT, OP_DEL: W_DEL}.get(op, W_LOCK)
                    old = self.locks.get(key)
                    if old is not None and old.start_ts == start_ts:
                        self._remove_lock(key)
                    if kind == W_PUT:
                        self.data[(key, start_ts)] = value
                    self._add_write(key, final_min, Write(start_ts, kind))
                    continue
                lock_op = OP_PUT if op == OP_INSERT else op
                self.locks.set(key, Lock(
                    primary, start_ts, ttl, lock_op, for_update_ts, txn_size,
                    async_commit, final_min if async_commit else min_commit_ts,
                    secondaries if (async_commit and key == primary) else (), value))
            if one_pc:
                return [], 0, final_min
            return [], max(final_min, prev_min) if async_commit else 0, 0

    def _prewrite_check(self, op, key, start_ts, for_update_ts, pa, skip_check, is_retry=False):
        """"write"; ("done", lock): prewritten before; ("committed",
        commit_ts): committed before; None: nothing to do; raises KeyErr.

        As TiKV (actions/prewrite.rs, commands/prewrite.rs): a prewrite is
        idempotent per start_ts. Its own lock: done, answering the lock's
        min_commit_ts. No lock but its own commit record (1PC, or a
        resolver committed it): committed, answering that commit ts (TiKV
        finds it when the newer-version check or the pessimistic-lock check
        fails). Its own rollback record: WriteConflict SelfRolledBack.
        Keys a pessimistic transaction did not lock skip the newer-version
        check unless the request is a retry (TiKV issue 11187), so only a
        retried request finds its own records there."""
        lock = self.locks.get(key)
        if lock is not None:
            if lock.start_ts != start_ts:
                raise KeyErr("locked", key, lock=lock, key=key)
            if lock.op == OP_PLOCK:
                if op == OP_INSERT and self._visible(key, TS_MAX)[0] is not None:
                    raise KeyErr("already_exist", key, key=key)
                return "write"  # a pessimistic lock becomes the prewrite lock
            return ("done", lock)  # the same prewrite again
        own = self._find_txn_write(key, start_ts)
        if pa == 1:  # DO_PESSIMISTIC_CHECK, but the pessimistic lock is gone
            if own is not None and own[1].kind != W_ROLLBACK:
                return ("committed", own[0])
            raise KeyErr("abort", key, abort="PessimisticLockNotFound { start_ts: %d, key: %r }" % (start_ts, key))
        if for_update_ts and pa == 0 and not is_retry:
            return "write"
        if own is not None:
            if own[1].kind == W_ROLLBACK:
                raise KeyErr("conflict", key, start_ts=start_ts, conflict_ts=start_ts, key=key,
                             primary=b"", conflict_commit_ts=own[0], reason=3)
            return ("committed", own[0])
        # Keys a pessimistic txn did not lock are checked like optimistic ones.
        if not skip_check:
            latest = self._latest_commit(key)
            if latest is not None and latest[0] > start_ts:
                raise KeyErr("conflict", key, start_ts=start_ts, conflict_ts=latest[1].start_ts,
                             key=key, primary=b"", conflict_commit_ts=latest[0], reason=1)
        if op in (OP_INSERT, OP_CHECK_NOT_EXISTS):
            v, _ = self._visible(key, TS_MAX)
            if v is not None:
                raise KeyErr("already_exist", key, key=key)
            if op == OP_CHECK_NOT_EXISTS:
                return None
        return "write"

    def commit(self, keys, start_ts, commit_ts):
        """Returns None or a KeyErr (nothing committed then)."""
        with self.cv:
            if commit_ts <= start_ts:
                return KeyErr("abort", b"", abort="InvalidTxnTso { start_ts: %d, commit_ts: %d }" % (start_ts, commit_ts))
            todo = []
            for key in keys:
                lock = self.locks.get(key)
                if lock is not None and lock.start_ts == start_ts:
                    if lock.op == OP_PLOCK:
                        return KeyErr("abort", key, abort="LockTypeNotMatch { start_ts: %d, key: %r, pessimistic: true }" % (start_ts, key))
                    if commit_ts < lock.min_commit_ts:
                        return KeyErr("commit_ts_expired", key, start_ts=start_ts,
                                      attempted_commit_ts=commit_ts, key=key,
                                      min_commit_ts=lock.min_commit_ts)
                    todo.append((key, lock))
                    continue
                own = self._find_txn_write(key, start_ts)
                if own is not None and own[1].kind != W_ROLLBACK:
                    continue  # committed before: idempotent
                return KeyErr("txn_lock_not_found", key, key=key)
            for key, lock in todo:
                self._commit_key(key, lock, commit_ts)
            return None

    def batch_rollback(self, keys, start_ts):
        with self.cv:
            for key in keys:
                lock = self.locks.get(key)
                if lock is not None and lock.start_ts == start_ts:
                    continue
                own = self._find_txn_write(key, start_ts)
                if own is not None and own[1].kind != W_ROLLBACK:
                    return KeyErr("abort", key, abort="Committed { start_ts: %d, commit_ts: %d, key: %r }" % (start_ts, own[0], key))
            for key in keys:
                self._rollback_key(key, start_ts)
            return None

    def cleanup(self, key, start_ts, current_ts):
        """(KeyErr or None, commit_ts if the key was committed)."""
        with self.cv:
            lock = self.locks.get(key)
            if lock is not None and lock.start_ts == start_ts:
                if current_ts != 0 and not lock.expired(current_ts):
                    return KeyErr("locked", key, lock=lock, key=key), 0
                self._rollback_key(key, start_ts)
                return None, 0
            own = self._find_txn_write(key, start_ts)
            if own is not None and own[1].kind != W_ROLLBACK:
                return None, own[0]
            self._rollback_key(key, start_ts)
            return None, 0

    def check_txn_status(self, primary, lock_ts, caller_start_ts, current_ts,
                         rollback_if_not_exist=False, force_sync_commit=False,
                         resolving_pessimistic_lock=False, verify_is_primary=False):
        """(KeyErr or None, lock_ttl, commit_ts, action, Lock or None)."""
        NO, TTL_RB, NOTEXIST_RB, PUSHED, TTL_PRB, NOTEXIST_NOTHING = 0, 1, 2, 3, 4, 5
        with self.cv:
            self.observe_ts(caller_start_ts)
            lock = self.locks.get(primary)
            if lock is not None and lock.start_ts == lock_ts:
                if verify_is_primary and lock.primary != primary:
                    return KeyErr("primary_mismatch", primary, lock=lock), 0, 0, NO, None
                if lock.use_async_commit and not force_sync_commit:
                    return None, lock.ttl, 0, NO, lock
                if lock.expired(current_ts):
                    if lock.op == OP_PLOCK and resolving_pessimistic_lock:
                        self._remove_lock(primary)
                        return None, 0, 0, TTL_PRB, None
                    self._rollback_key(primary, lock_ts)
                    return None, 0, 0, TTL_RB, None
                action = NO
                if lock.op != OP_PLOCK and lock.min_commit_ts and caller_start_ts != TS_MAX \
                        and caller_start_ts >= lock.min_commit_ts:
                    lock.min_commit_ts = caller_start_ts + 1
                    action = PUSHED
                if caller_start_ts == TS_MAX:
                    action = PUSHED
                return None, lock.ttl, 0, action, lock
            own = self._find_txn_write(primary, lock_ts)
            if own is not None:
                if own[1].kind == W_ROLLBACK:
                    return None, 0, 0, NO, None
                return None, 0, own[0], NO, None
            if resolving_pessimistic_lock:
                return None, 0, 0, NOTEXIST_NOTHING, None
            if rollback_if_not_exist:
                self._rollback_key(primary, lock_ts)
                return None, 0, 0, NOTEXIST_RB, None
            return KeyErr("txn_not_found", primary, start_ts=lock_ts, primary_key=primary), 0, 0, NO, None

    def check_secondary_locks(self, keys, start_ts):
        """([(key, Lock)], commit_ts): every lock still present (rolled
        back: [] and 0; committed: [] and its commit_ts)."""
        with self.cv:
            locks, committed, rolled_back = [], 0, False
            for key in keys:
                lock = self.locks.get(key)
                if lock is not None and lock.start_ts == start_ts:
                    if lock.op == OP_PLOCK:
                        self._rollback_key(key, start_ts)
                        rolled_back = True
                        break
                    locks.append((key, lock))
                    continue
                own = self._find_txn_write(key, start_ts)
                if own is not None and own[1].kind != W_ROLLBACK:
                    committed = own[0]
                    continue
                self._rollback_key(key, start_ts)
                rolled_back = True
                break
            if rolled_back:
                return [], 0
            if committed:
                return [], committed
            return locks, 0

    def resolve_lock(self, txn_status, keys=None, pred=None):
        """txn_status: start_ts -> commit_ts (0 = roll back). keys None: every
        lock of those txns in [lo, hi). Returns None or a KeyErr."""
        with self.cv:
            if keys is None:
                keys = [k for k in self.locks.range(b"", None)
                        if self.locks.get(k).start_ts in txn_status and (pred is None or pred(k))]
                start_of = {k: self.locks.get(k).start_ts for k in keys}
            else:
                start_of = {k: next(iter(txn_status)) for k in keys} if len(txn_status) == 1 else None
                if start_of is None:
                    start_of = {}
                    for k in keys:
                        lock = self.locks.get(k)
                        if lock is not None and lock.start_ts in txn_status:
                            start_of[k] = lock.start_ts
            for key, start_ts in start_of.items():
                commit_ts = txn_status[start_ts]
                lock = self.locks.get(key)
                if commit_ts == 0:
                    own = self._find_txn_write(key, start_ts)
                    if (lock is None or lock.start_ts != start_ts) and own is not None \
                            and own[1].kind != W_ROLLBACK:
                        return KeyErr("abort", key, abort="Committed { start_ts: %d, commit_ts: %d }" % (start_ts, own[0]))
                    self._rollback_key(key, start_ts)
                    continue
                if lock is not None and lock.start_ts == start_ts:
                    if lock.op == OP_PLOCK:
                        self._remove_lock(key)  # a pessimistic lock never prewritten
                    else:
                        self._commit_key(key, lock, commit_ts)
                    continue
                own = self._find_txn_write(key, start_ts)
                if own is None or own[1].kind == W_ROLLBACK:
                    return KeyErr("txn_lock_not_found", key, key=key)
            return None

    def txn_heart_beat(self, primary, start_ts, advise_ttl, min_commit_ts=0):
        """(KeyErr or None, lock_ttl)."""
        with self.cv:
            lock = self.locks.get(primary)
            if lock is None or lock.start_ts != start_ts:
                return KeyErr("txn_not_found", primary, start_ts=start_ts, primary_key=primary), 0
            if advise_ttl > lock.ttl:
                lock.ttl = advise_ttl
            if min_commit_ts > lock.min_commit_ts and not lock.use_async_commit:
                lock.min_commit_ts = min_commit_ts
            return None, lock.ttl

    def _deadlock(self, waiter, holder):
        seen = set()
        t = holder
        while t in self.waiting and t not in seen:
            seen.add(t)
            t = self.waiting[t]
            if t == waiter:
                return True
        return False

    def pessimistic_lock(self, keys, primary, start_ts, ttl, for_update_ts,
                         wait_timeout_ms=0, return_values=False, check_existence=False,
                         lock_only_if_exists=False, min_commit_ts=0):
        """(errors, values, not_founds); errors not empty: nothing locked."""
        wait_ms = self.lock_wait_ms if wait_timeout_ms == 0 else max(wait_timeout_ms, 0)
        deadline = time.monotonic() + wait_ms / 1000.0
        with self.cv:
            self.observe_ts(for_update_ts)
            while True:
                blocker = None
                try:
                    todo, values, not_founds = [], [], []
                    for key in keys:
                        lock = self.locks.get(key)
                        if lock is not None and lock.start_ts != start_ts:
                            blocker = (key, lock)
                            raise KeyErr("locked", key, lock=lock, key=key)
                        v, _ = self._visible(key, TS_MAX)
                        if lock is None:
                            own = self._find_txn_write(key, start_ts)
                            if own is not None:
                                raise KeyErr("abort", key, abort="PessimisticLockRolledBack { start_ts: %d, key: %r }" % (start_ts, key)
                                             if own[1].kind == W_ROLLBACK else
                                             "Committed { start_ts: %d, commit_ts: %d }" % (start_ts, own[0]))
                            latest = self._latest_commit(key)
                            if latest is not None and latest[0] > for_update_ts:
                                raise KeyErr("conflict", key, start_ts=start_ts,
                                             conflict_ts=latest[1].start_ts, key=key,
                                             primary=primary, conflict_commit_ts=latest[0], reason=2)
                        values.append(v if v is not None else b"")
                        not_founds.append(v is None)
                        if lock_only_if_exists and v is None:
                            continue
                        todo.append((key, lock))
                    for key, lock in todo:
                        if lock is None:
                            self.locks.set(key, Lock(primary, start_ts, ttl, OP_PLOCK, for_update_ts,
                                                     min_commit_ts=min_commit_ts))
                        elif lock.op == OP_PLOCK and for_update_ts > lock.for_update_ts:
                            lock.for_update_ts = for_update_ts
                            lock.ttl = max(lock.ttl, ttl)
                    self.waiting.pop(start_ts, None)
                    return ([], values if return_values else [],
                            not_founds if (return_values or check_existence) else [])
                except KeyErr as e:
                    if blocker is None:
                        self.waiting.pop(start_ts, None)
                        return [e], [], []
                    key, lock = blocker
                    if self._deadlock(start_ts, lock.start_ts):
                        self.waiting.pop(start_ts, None)
                        return [KeyErr("deadlock", key, lock_ts=lock.start_ts, lock_key=key,
                                       deadlock_key_hash=hash(key) & ((1 << 63) - 1),
                                       deadlock_key=key)], [], []
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.waiting.pop(start_ts, None)
                        return [e], [], []
                    self.waiting[start_ts] = lock.start_ts
                    self.cv.wait(left)

    def pessimistic_rollback(self, keys, start_ts, for_update_ts, pred=None):
        with self.cv:
            if not keys:
                keys = [k for k in self.locks.range(b"", None) if pred is None or pred(k)]
            for key in keys:
                lock = self.locks.get(key)
                if lock is not None and lock.start_ts == start_ts and lock.op == OP_PLOCK \
                        and lock.for_update_ts <= for_update_ts:
                    self._remove_lock(key)
            return None

    def delete_range(self, lo, hi, pred=None):
        with self.cv:
            for k in list(self.locks.range(lo, hi)):
                if pred is None or pred(k):
                    self._remove_lock(k)
            for k in list(self.writes.range(lo, hi)):
                if pred is not None and not pred(k):
                    continue
                for _, w in self.writes.get(k):
                    self.data.pop((k, w.start_ts), None)
                    self.txn_writes.pop((k, w.start_ts), None)
                self.writes.pop(k)

    def all_locks(self):
        with self.cv:
            return [(k, self.locks.get(k)) for k in self.locks.keys]

    def key_info(self, key):
        with self.cv:
            lock = self.locks.get(key)
            return {
                "lock": None if lock is None else {
                    "start_ts": lock.start_ts, "primary": lock.primary.hex(), "ttl": lock.ttl,
                    "op": lock.op, "for_update_ts": lock.for_update_ts,
                    "use_async_commit": lock.use_async_commit, "min_commit_ts": lock.min_commit_ts},
                "writes": [{"commit_ts": c, "start_ts": w.start_ts, "kind": w.kind}
                           for c, w in self._write_list(key)],
            }

    # ---- RawKV ----

    def raw_get(self, key):
        with self.cv:
            return self.raw.get(key)

    def raw_batch_get(self, keys):
        with self.cv:
            return [(k, self.raw.get(k)) for k in keys if k in self.raw]

    def raw_put(self, pairs):
        with self.cv:
            for k, v in pairs:
                self.raw.set(k, v)

    def raw_delete(self, keys):
        with self.cv:
            for k in keys:
                self.raw.pop(k)

    def raw_scan(self, lo, hi, limit, reverse=False, key_only=False, pred=None):
        with self.cv:
            out = []
            for k in self.raw.range(lo, hi, reverse):
                if pred is not None and not pred(k):
                    continue
                if len(out) >= limit:
                    break
                out.append((k, b"" if key_only else self.raw.get(k)))
            return out

    def raw_cas(self, key, prev_not_exist, prev_value, value, delete):
        """RawCompareAndSwap: (succeeded, the value before or None)."""
        with self.cv:
            cur = self.raw.get(key)
            ok = cur is None if prev_not_exist else (cur is not None and cur == prev_value)
            if ok:
                if delete:
                    self.raw.pop(key)
                else:
                    self.raw.set(key, value)
            return ok, cur

    def raw_delete_range(self, lo, hi):
        with self.cv:
            for k in list(self.raw.range(lo, hi)):
                self.raw.pop(k)
