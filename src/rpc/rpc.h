/*
 * A gRPC client transport shared by Orbit's remote providers (etcd, TiKV),
 * on gRPC's core C API: unary calls, and bidirectional streams (below).
 *
 * One orbit__rpc holds one channel per endpoint and one completion-queue
 * thread. Calls are asynchronous: orbit__rpc_start() sends a serialized
 * request and returns at once; many calls may be in flight on one channel;
 * the completion callback runs on the completion thread. orbit__rpc_call()
 * is the blocking wrapper for synchronous use.
 *
 * Every call has a total deadline (its budget across retries). A failed
 * attempt is retried, with capped exponential backoff and full jitter, only
 * when it is safe: a caller marks a call `idempotent` when resending it can
 * never apply it twice (reads; writes guarded by a compare). An UNAVAILABLE
 * answer or an attempt timeout also moves the transport to the next
 * endpoint, so later calls go to a live member. A call that is not
 * idempotent is never resent: it fails with the translated status.
 *
 * gRPC status codes become Orbit codes here, once, with the status text kept
 * as detail (orbit__rpc_map_status()). The detail of a failed call also
 * says how long it took, how many attempts it made and which endpoints it
 * tried; a failed DNS lookup is named as such.
 *
 * Threads: every function may be called from any thread, except that
 * orbit__rpc_call() must not be called from a completion callback (the
 * callback runs on the thread that would have to complete it).
 */
#ifndef ORBIT_RPC_H
#define ORBIT_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"

typedef struct orbit__rpc orbit__rpc;

typedef struct orbit__rpc_config {
    /* "host:port[,host:port...]"; copied. */
    const char *endpoints;
    /* NULL: plaintext. Else a PEM file of CA certificates: the channels use
     * TLS and verify the server against it. */
    const char *ca_file;
    /* HTTP/2 keepalive ping interval and ack timeout; 0 keeps gRPC's
     * default (no pings). A dead peer behind a silent network is then
     * noticed within keepalive_ms + keepalive_timeout_ms. */
    uint32_t keepalive_ms;
    uint32_t keepalive_timeout_ms;
    /* The connect deadline; 0: none. A call whose attempts have all failed
     * to connect for this long in a row (every endpoint it tried refused
     * the connection or failed its DNS lookup) fails with ORBIT_EUNAVAIL
     * (ORBIT_EUNCERTAIN for a write an earlier attempt of which may have
     * been sent), instead of retrying until its whole timeout. An endpoint
     * that accepts nothing and refuses nothing (a silent network) is
     * bounded by the attempt deadline instead. */
    uint32_t connect_timeout_ms;
} orbit__rpc_config;

/* 0 or ORBIT_EINVAL (no endpoint, unreadable CA file), ORBIT_ENOMEM,
 * ORBIT_EINTERNAL (gRPC refused a channel). */
int orbit__rpc_open(const orbit__rpc_config *cfg, orbit__rpc **out);

/* Waits for every call in flight to complete (each is bounded by its own
 * deadline), then frees everything. Calls started during close fail with
 * ORBIT_ECLOSED. NULL is accepted. */
void orbit__rpc_close(orbit__rpc *r);

/* Whether any attempt on r ever got past connecting to a server (it was
 * answered, or it may have been sent). While it has not, nothing sent
 * through r can have reached a server. */
int orbit__rpc_ever_reached(orbit__rpc *r);

size_t orbit__rpc_endpoint_count(const orbit__rpc *r);
/* The i-th endpoint as given ("host:port"), borrowed from r. */
const char *orbit__rpc_endpoint(const orbit__rpc *r, size_t i);

typedef struct orbit__rpc_call_opts {
    uint32_t timeout_ms; /* total budget, all attempts included; 0: 5000 */
    uint32_t attempt_ms; /* per attempt; 0: the whole remaining budget */
    int idempotent;      /* flags: ORBIT__RPC_RESEND (1): may be resent
                          * after an ambiguous failure; ORBIT__RPC_WRITE */
    int endpoint;        /* -1: the current endpoint, with failover;
                          * i >= 0: only endpoint i, never another */
} orbit__rpc_call_opts;

#define ORBIT__RPC_RESEND 1
/* The call changes state. A failure after any attempt that may have reached
 * the server (a deadline, a lost connection, any answer other than "could
 * not connect") is reported as ORBIT_EUNCERTAIN, with the last failure in
 * the detail; a write that surely never left keeps EUNAVAIL / ETIMEDOUT. */
#define ORBIT__RPC_WRITE 2

/*
 * Completion. rc is 0 or a negative Orbit code; detail is "" or the text
 * explaining rc. resp[0..len) is the serialized response, borrowed until the
 * callback returns. Runs once, on the completion thread.
 */
typedef void (*orbit__rpc_done_fn)(void *arg, int rc, const char *detail,
                                   const uint8_t *resp, size_t len);

/*
 * Start a unary call. method is the full path ("/etcdserverpb.KV/Range")
 * and must be a string with static lifetime. req is copied before return.
 * 0: done will run exactly once. An error: done never runs.
 */
int orbit__rpc_start(orbit__rpc *r, const char *method, const uint8_t *req,
                     size_t len, const orbit__rpc_call_opts *o,
                     orbit__rpc_done_fn done, void *arg);

/* The blocking form: resp's contents are replaced by the response. Returns
 * 0 or the call's Orbit code, with the detail set on the calling thread. */
int orbit__rpc_call(orbit__rpc *r, const char *method, const uint8_t *req,
                    size_t len, const orbit__rpc_call_opts *o, orbit_buf *resp);

/* The number of attempts of the call whose completion callback is running
 * on this thread, or after orbit__rpc_call() returns, of that call. 1 means
 * the request was sent once: no earlier attempt of it can still arrive. */
unsigned orbit__rpc_attempts(void);

/* The largest number of calls that were in flight at once on r since open
 * (or since the last reset; reset != 0 restarts the count from the calls
 * in flight now). Lets tests check that a provider really overlaps calls. */
size_t orbit__rpc_max_inflight(orbit__rpc *r, int reset);

/* ---- bidirectional streams ------------------------------------------------
 *
 * A stream is one long-lived gRPC call on endpoint ep of r (PD's /pdpb.PD/Tso
 * is one). Its calls block the calling thread and run on a completion queue
 * of the stream's own, so they never touch the unary calls' completion
 * thread. One thread at a time per stream; any thread may use it. A stream
 * must be closed before its orbit__rpc. After any failure the stream is
 * dead: every later send/recv returns the same code; close it and open
 * another. Failures carry the call's gRPC status translated with
 * orbit__rpc_map_status (UNAVAILABLE: ORBIT_EUNAVAIL, a passed deadline:
 * ORBIT_ETIMEDOUT), the status text as detail.
 */
typedef struct orbit__rpc_stream orbit__rpc_stream;

/* Open a stream on endpoint ep; method has static lifetime. 0, or
 * ORBIT_EINVAL (no such endpoint), ORBIT_ECLOSED (r is closing),
 * ORBIT_ENOMEM, ORBIT_EINTERNAL. Nothing is sent until the first send. */
int orbit__rpc_stream_open(orbit__rpc *r, size_t ep, const char *method, orbit__rpc_stream **out);
/* Send one message (copied), waiting at most timeout_ms (0: 5000) for gRPC
 * to take it. */
int orbit__rpc_stream_send(orbit__rpc_stream *s, const uint8_t *msg, size_t len, uint32_t timeout_ms);
/* Wait at most timeout_ms (0: 5000) for the next message; its bytes replace
 * out's contents. The server ending the stream is ORBIT_EPROTO for an OK
 * status ("stream ended"), else its status. A timeout kills the stream
 * (ORBIT_ETIMEDOUT): an answer that arrives later could not be matched. */
int orbit__rpc_stream_recv(orbit__rpc_stream *s, uint32_t timeout_ms, orbit_buf *out);
/* Cancel the call if it is still open and free everything. NULL is fine. */
void orbit__rpc_stream_close(orbit__rpc_stream *s);

/* Translate a gRPC status (grpc_status_code as int) with its message into an
 * Orbit code: UNAVAILABLE is EUNAVAIL, DEADLINE_EXCEEDED ETIMEDOUT; etcd's
 * "required revision has been compacted" (OUT_OF_RANGE) is ECOMPACTED, a
 * future revision EINVAL; its NOSPACE alarm ("database space exceeded",
 * RESOURCE_EXHAUSTED) ENOSPACE, "too many requests" EBUSY. Exposed for
 * tests. */
int orbit__rpc_map_status(int grpc_code, const char *msg);

/* Backoff before retry number `attempt` (1-based): uniform in
 * [0, min(cap_ms, base_ms * 2^(attempt-1))] ms, from the caller's seed
 * state (xorshift). Exposed for tests. */
uint32_t orbit__rpc_backoff_ms(uint32_t attempt, uint32_t base_ms,
                               uint32_t cap_ms, uint64_t *seed);

#endif
