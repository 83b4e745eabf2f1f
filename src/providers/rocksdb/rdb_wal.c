/*
 * A read-only check of a RocksDB store's write-ahead log, run before the
 * store is opened, so that recovery never drops acknowledged writes without
 * saying so (the wal_recovery= option in rdb.c decides what to do with the
 * verdict).
 *
 * RocksDB's log format (db/log_format.h, doc/log_format.txt): a WAL file is
 * a sequence of 32 KiB blocks. A block holds physical records, each a 7-byte
 * header -- masked CRC32C (4 bytes, little-endian) of the type byte and the
 * payload, payload length (2 bytes, little-endian), type (1 byte) -- and
 * the payload. A record never spans blocks: a logical record (one
 * WriteBatch, at least 12 bytes: sequence number and count) is one FULL
 * record or a FIRST, MIDDLE..., LAST chain; fewer than 7 bytes left at the
 * end of a block are zero padding. Types 9 and 10 carry WAL metadata
 * (compression, timestamp sizes) and no data; the recyclable types (5-8,
 * 11-byte headers) appear only with recycle_log_file_num, which Orbit never
 * sets, and are reported as damage.
 *
 * The scan reads every "NNN.log" file of the directory in number order
 * (RocksDB replays them in that order) and finds the first damage: a short
 * or impossible header, a checksum mismatch, a zero-filled header, an
 * unknown type, a fragment out of order, a too-small batch, or a fragmented
 * record cut off by the end of its file. The damaged logical record is
 * dropped from its start (`drop_from`). Past the damage it keeps looking for
 * intact records -- in the same block after a record whose length was
 * plausible, from the next block boundary otherwise, and in later files --
 * because that is what tells a torn tail (nothing intact follows: the
 * normal leftover of a crash or power loss, safe to cut) from damage in the
 * middle (intact, acknowledged records follow and would be lost).
 *
 * Invariants: the scan only reads; it never needs the store's lock (a WAL
 * is append-only, so a concurrent writer can only make the tail look torn,
 * and then RocksDB's own open fails with the lock held); a verdict names
 * the file and byte offset. Part of the rocksdb provider, called by rdb.c
 * through rdb_int.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/rocksdb/rdb_int.h"

#define WAL_BLOCK 32768
#define WAL_HEADER 7
#define WAL_MASK_DELTA 0xa282ead8u
#define WAL_BATCH_HEADER 12 /* sequence number (8) + count (4) */

enum {
    REC_ZERO = 0,
    REC_FULL = 1,
    REC_FIRST = 2,
    REC_MIDDLE = 3,
    REC_LAST = 4,
    REC_SET_COMPRESSION = 9,
    REC_TIMESTAMP_SIZE = 10,
};

/* ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) ------------ */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

/* Extend crc (0 to start) over p[0..n), slicing by 8. */
uint32_t orbit__rdb_crc32c(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
              crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

/* ---- the scan --------------------------------------------------------- */

typedef struct wal_file {
    uint64_t number;
    char name[32];
} wal_file;

static int cmp_wal(const void *a, const void *b)
{
    const wal_file *x = a, *y = b;
    return x->number < y->number ? -1 : x->number > y->number;
}

/* "NNN.log" with only digits before ".log": a WAL file's number. */
static int wal_number(const char *name, uint64_t *num)
{
    size_t n = strlen(name);
    if (n < 5 || n >= sizeof ((wal_file *)0)->name || strcmp(name + n - 4, ".log") != 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n - 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *num = v;
    return 1;
}

static int list_wals(const char *dir, wal_file **out, size_t *count)
{
    DIR *d = opendir(dir);
    wal_file *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;

    *out = NULL;
    *count = 0;
    if (!d) {
        char buf[128];
        int err = errno;
        return orbit_error_set(ORBIT_EIO, "rocksdb open %s: cannot list the directory: %s", dir,
                               strerror_r(err, buf, sizeof buf));
    }
    while ((e = readdir(d)) != NULL) {
        uint64_t num;
        if (!wal_number(e->d_name, &num))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            wal_file *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                free(v);
                closedir(d);
                return ORBIT_ENOMEM;
            }
            v = nv;
            cap = ncap;
        }
        v[n].number = num;
        /* wal_number() checked that the name fits. */
        memcpy(v[n].name, e->d_name, strlen(e->d_name) + 1);
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_wal);
    *out = v;
    *count = n;
    return ORBIT_OK;
}

/* Scan state across the files, in replay order. */
typedef struct wal_scan {
    rdb_wal_report *rep;
    int damaged;          /* the first damage has been seen */
    int in_fragment;      /* inside a FIRST..LAST chain */
    const char *frag_file; /* where the open chain started */
    uint64_t frag_off;
} wal_scan;

/* Record the first damage: what is wrong at (file, at); the data from
 * (drop_file, drop_off) on is lost. */
static void damage(wal_scan *s, const char *file, uint64_t at, const char *drop_file,
                   uint64_t drop_off, const char *why)
{
    if (s->damaged)
        return;
    s->damaged = 1;
    rdb_wal_report *r = s->rep;
    snprintf(r->file, sizeof r->file, "%s", drop_file);
    r->offset = drop_off;
    snprintf(r->bad_file, sizeof r->bad_file, "%s", file);
    r->bad_offset = at;
    snprintf(r->reason, sizeof r->reason, "%s", why);
}

/* Damage at (file, at) that also drops an open fragment chain from its
 * start. */
static void damage_here(wal_scan *s, const char *file, uint64_t at, const char *why)
{
    if (s->in_fragment)
        damage(s, file, at, s->frag_file, s->frag_off, why);
    else
        damage(s, file, at, file, at, why);
    s->in_fragment = 0;
}

/* One block (n bytes at file offset base; n < WAL_BLOCK only for the last
 * block of the file). */
static void scan_block(wal_scan *s, const char *file, uint64_t base, const uint8_t *b,
                       size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        uint64_t at = base + pos;
        if (n - pos < WAL_HEADER) {
            /* A full block's tail is padding; in the file's last, partial
             * block it is a header cut off by the end of the file. */
            if (n < WAL_BLOCK)
                damage_here(s, file, at, "a record header cut off by the end of the file");
            return;
        }
        const uint8_t *h = b + pos;
        uint32_t crc = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                       (uint32_t)h[3] << 24;
        size_t len = (size_t)h[4] | (size_t)h[5] << 8;
        int type = h[6];
        if (type == REC_ZERO && len == 0) {
            /* Zero-filled space where a record should start: RocksDB skips
             * the rest of the block without a word. */
            damage_here(s, file, at, "zero bytes where a record should start");
            return;
        }
        if (pos + WAL_HEADER + len > n) {
            damage_here(s, file, at,
                        n < WAL_BLOCK ? "a record cut off by the end of the file"
                                      : "a record length beyond its block");
            return;
        }
        uint32_t want = orbit__rdb_crc32c(0, h + 6, 1 + len);
        want = ((want >> 15) | (want << 17)) + WAL_MASK_DELTA;
        int known = type == REC_FULL || type == REC_FIRST || type == REC_MIDDLE ||
                    type == REC_LAST || type == REC_SET_COMPRESSION ||
                    type == REC_TIMESTAMP_SIZE;
        pos += WAL_HEADER + len;
        if (crc != want) {
            damage_here(s, file, at, "checksum mismatch");
            continue;
        }
        if (!known) {
            damage_here(s, file, at, "unknown record type");
            continue;
        }
        if (s->damaged) {
            /* An intact record past the damage: acknowledged data that a
             * point-in-time recovery would drop. */
            if (type >= REC_FULL && type <= REC_LAST) {
                s->rep->valid_after += len;
                s->rep->records_after++;
            }
            continue;
        }
        switch (type) {
        case REC_FULL:
            if (s->in_fragment) {
                damage_here(s, file, at, "a fragmented record without its last part");
                break;
            }
            if (len < WAL_BATCH_HEADER) {
                damage_here(s, file, at, "a record too small to be a write batch");
                break;
            }
            s->rep->records++;
            break;
        case REC_FIRST:
            if (s->in_fragment) {
                damage_here(s, file, at, "a fragmented record without its last part");
                break;
            }
            s->in_fragment = 1;
            s->frag_file = file;
            s->frag_off = at;
            break;
        case REC_MIDDLE:
        case REC_LAST:
            if (!s->in_fragment) {
                damage_here(s, file, at, "a record fragment without its first part");
                break;
            }
            if (type == REC_LAST) {
                s->in_fragment = 0;
                s->rep->records++;
            }
            break;
        default: /* metadata */
            break;
        }
    }
}

/* Scan one file; *size is set to its length. */
static int scan_file(wal_scan *s, const char *dir, const char *name, uint64_t *size)
{
    char path[4096];
    uint8_t *block = malloc(WAL_BLOCK);
    uint64_t off = 0;
    int rc = ORBIT_OK;

    *size = 0;
    if (!block)
        return ORBIT_ENOMEM;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        char buf[128];
        int err = errno;
        free(block);
        if (err == ENOENT)
            return ORBIT_OK; /* removed since it was listed: nothing to replay */
        return orbit_error_set(ORBIT_EIO, "rocksdb open: cannot read the write-ahead log %s: %s",
                               path, strerror_r(err, buf, sizeof buf));
    }
    for (;;) {
        size_t n = fread(block, 1, WAL_BLOCK, f);
        if (n > 0)
            scan_block(s, name, off, block, n);
        off += n;
        if (n < WAL_BLOCK) {
            if (ferror(f)) {
                char buf[128];
                int err = errno;
                rc = orbit_error_set(ORBIT_EIO,
                                     "rocksdb open: cannot read the write-ahead log %s: %s", path,
                                     strerror_r(err, buf, sizeof buf));
            }
            break;
        }
    }
    fclose(f);
    free(block);
    *size = off;
    if (rc == ORBIT_OK && s->in_fragment) {
        /* RocksDB never continues a record in the next file. */
        damage_here(s, name, off, "a fragmented record cut off by the end of the file");
    }
    return rc;
}

int orbit__rdb_wal_scan(const char *dir, rdb_wal_report *rep)
{
    wal_file *files;
    size_t n;
    wal_scan s;

    memset(rep, 0, sizeof *rep);
    memset(&s, 0, sizeof s);
    s.rep = rep;
    int rc = list_wals(dir, &files, &n);
    if (rc)
        return rc;
    rep->files = n;
    for (size_t i = 0; i < n && rc == ORBIT_OK; i++) {
        uint64_t size;
        int was_damaged = s.damaged;
        /* files[] outlives s.frag_file, which points into it. */
        rc = scan_file(&s, dir, files[i].name, &size);
        rep->bytes += size;
        if (rc)
            break;
        if (was_damaged)
            rep->dropped += size; /* every byte of a later file is dropped */
        else if (s.damaged)
            rep->dropped += size - rep->offset;
    }
    free(files);
    if (rc)
        return rc;
    rep->verdict = !s.damaged ? RDB_WAL_CLEAN : rep->records_after ? RDB_WAL_DAMAGED : RDB_WAL_TORN_TAIL;
    return ORBIT_OK;
}
