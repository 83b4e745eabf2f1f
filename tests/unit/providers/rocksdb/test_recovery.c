/*
 * Tests for the rocksdb provider's open path (src/providers/rocksdb/rdb.c,
 * rdb_wal.c, rdb_l0.cc) on real files: write-ahead-log recovery
 * (wal_recovery=torn_tail|strict|salvage) after the .log file is truncated,
 * zero-extended or damaged in the middle; what an open says it will do
 * (create=0 and read_only=1 on a missing store are ENOSTORE, read_only=1
 * refuses every write, path forms that are surely mistakes are EBADURI);
 * and the level-0 compaction that keeps a store written by many short
 * opens small (also one left with 100 level-0 files, opened under a
 * descriptor limit of 64).
 *
 * Record boundaries are found without the provider's scanner: the WAL's
 * size is read after every put (each acknowledged write has reached the
 * file), so the n-th record ends where the file stood after the n-th put.
 * The writes are made by a child process that exits without closing the
 * store, as a crash would.
 * Each test gets a fresh temporary directory, removed at its end.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <rocksdb/c.h>

#include "orbit/kv.h"
#include "providers/rocksdb/rdb_int.h"
#include "testutil.h"

#define NKEYS 10

static int setup_dir(void **state)
{
    *state = tu_tempdir("rdbrec");
    return 0;
}

static int teardown_dir(void **state)
{
    tu_rmdir(*state);
    return 0;
}

static const char *uri_of(const char *dir, const char *opts)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "rocksdb:%s/db%s%s", dir, opts && *opts ? "?" : "",
             opts && *opts ? opts : "");
    return buf;
}

static orbit_kv *open_ok(const char *dir, const char *opts)
{
    orbit_kv *kv = NULL;
    const char *uri = uri_of(dir, opts);
    int rc = orbit_kv_open(uri, &kv);
    if (rc != 0)
        fail_msg("open %s: %s (%s)", uri, orbit_err_name(rc), orbit_last_error_detail());
    return kv;
}

static void key_of(int i, char *k, char *v)
{
    snprintf(k, 16, "k%02d", i);
    snprintf(v, 16, "value-%02d", i);
}

/* Whether key i is there with its value. */
static int has_key(orbit_kv *kv, int i)
{
    char k[16], v[16];
    orbit_buf b = ORBIT_BUF_INIT;
    key_of(i, k, v);
    int rc = orbit_kv_get(kv, NULL, (const uint8_t *)k, strlen(k), &b);
    int ok = rc == 0 && b.len == strlen(v) && memcmp(b.data, v, b.len) == 0;
    if (rc != 0 && rc != ORBIT_NOTFOUND)
        fail_msg("get %s: %s (%s)", k, orbit_err_name(rc), orbit_last_error_detail());
    orbit_buf_release(&b);
    return ok;
}

/* orbit_kv_get's result for k (the value is dropped). */
static int get_rc(orbit_kv *kv, const orbit_read_opts *ro, const char *k, size_t kl)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = orbit_kv_get(kv, ro, (const uint8_t *)k, kl, &b);
    orbit_buf_release(&b);
    return rc;
}

/* The path of the newest .log file of the store (there is one after a
 * clean close), in a static buffer. */
static const char *wal_path(const char *dir)
{
    static char path[2048];
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/db", dir);
    DIR *d = opendir(sub);
    assert_non_null(d);
    struct dirent *e;
    unsigned long best = 0;
    path[0] = '\0';
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".log") == 0 && e->d_name[0] >= '0' &&
            e->d_name[0] <= '9') {
            unsigned long num = strtoul(e->d_name, NULL, 10);
            if (num >= best) {
                best = num;
                snprintf(path, sizeof path, "%s/%s", sub, e->d_name);
            }
        }
    }
    closedir(d);
    assert_true(path[0] != '\0');
    return path;
}

static long file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (long)st.st_size;
}

/* Write NKEYS keys, one put (one WAL record) each, in a child process
 * that then exits without closing the store, as a crash would: the
 * records stay in the WAL (a clean close of a pessimistic store flushes
 * them into a table file). ends[i] is the WAL's size after put i. */
static void write_keys(const char *dir, const char *opts, long *ends)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        orbit_kv *kv = NULL;
        if (orbit_kv_open(uri_of(dir, opts), &kv) != 0)
            _exit(2);
        const char *wal = wal_path(dir);
        char k[16], v[16];
        for (int i = 0; i < NKEYS; i++) {
            key_of(i, k, v);
            if (orbit_kv_put(kv, (const uint8_t *)k, strlen(k), (const uint8_t *)v,
                             strlen(v)) != 0)
                _exit(3);
            ends[i] = file_size(wal);
        }
        if (write(fds[1], ends, sizeof(long) * NKEYS) != (ssize_t)(sizeof(long) * NKEYS))
            _exit(4);
        _exit(0);
    }
    close(fds[1]);
    int status = 0;
    assert_int_equal(read(fds[0], ends, sizeof(long) * NKEYS), (ssize_t)(sizeof(long) * NKEYS));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(file_size(wal_path(dir)), ends[NKEYS - 1]);
}

static uint8_t *read_file(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    *n = file_size(path);
    uint8_t *b = malloc((size_t)*n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return b;
}

static void write_file(const char *path, const uint8_t *b, long n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
}

static void expect_detail(const char *what)
{
    if (!strstr(orbit_last_error_detail(), what))
        fail_msg("detail \"%s\" lacks \"%s\"", orbit_last_error_detail(), what);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- the scanner's CRC ------------------------------------------------ */

static void test_crc32c(void **state)
{
    (void)state;
    /* The standard check value of CRC-32C, and zeros (RFC 3720 B.4). */
    assert_int_equal(orbit__rdb_crc32c(0, "123456789", 9), 0xE3069283u);
    uint8_t z[32] = {0};
    assert_int_equal(orbit__rdb_crc32c(0, z, sizeof z), 0x8A9136AAu);
    /* Extending in pieces equals one pass. */
    assert_int_equal(orbit__rdb_crc32c(orbit__rdb_crc32c(0, "1234", 4), "56789", 5),
                     0xE3069283u);
}

/* ---- clean logs --------------------------------------------------------- */

/* RocksDB's own WALs scan clean, with small records and with values that
 * span several 32 KiB blocks, and a clean reopen says nothing. */
static void test_clean_wal(void **state)
{
    const char *dir = *state;
    orbit_kv *kv = open_ok(dir, "");
    size_t big = 200000;
    uint8_t *v = malloc(big);
    assert_non_null(v);
    for (size_t i = 0; i < big; i++)
        v[i] = (uint8_t)(i * 7);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1), 0);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"big", 3, v, big), 0);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"b", 1, (const uint8_t *)"2", 1), 0);
    orbit_kv_close(kv);

    char sub[1024];
    snprintf(sub, sizeof sub, "%s/db", dir);
    rdb_wal_report w;
    assert_int_equal(orbit__rdb_wal_scan(sub, &w), 0);
    assert_int_equal(w.verdict, RDB_WAL_CLEAN);
    assert_int_equal(w.records, 3);
    assert_true(w.bytes > big);

    kv = open_ok(dir, "wal_recovery=strict");
    assert_string_equal(orbit_last_error_detail(), "");
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)"big", 3, &b), 0);
    assert_int_equal(b.len, big);
    assert_memory_equal(b.data, v, big);
    orbit_buf_release(&b);
    orbit_kv_close(kv);
    free(v);
}

/* ---- a torn tail ---------------------------------------------------------- */

/* The last record cut short, as a crash or a power loss under sync=off
 * leaves it: the default open recovers every complete record, drops the
 * rest and says how many bytes, in the detail of the successful open;
 * wal_recovery=strict refuses and changes nothing. */
static void torn_round(const char *dir, const char *opts)
{
    long ends[NKEYS];
    write_keys(dir, opts, ends);
    const char *wal = wal_path(dir);
    char walname[64];
    snprintf(walname, sizeof walname, "%s", base_name(wal));
    long cut = ends[NKEYS - 2] + (ends[NKEYS - 1] - ends[NKEYS - 2]) / 2;
    assert_int_equal(truncate(wal, cut), 0);

    orbit_kv *kv = NULL;
    char strict[256];
    snprintf(strict, sizeof strict, "%s%swal_recovery=strict", opts, *opts ? "&" : "");
    assert_int_equal(orbit_kv_open(uri_of(dir, strict), &kv), ORBIT_ECORRUPT);
    assert_null(kv);
    expect_detail(walname);
    expect_detail("torn tail");
    assert_int_equal(file_size(wal), cut);

    kv = open_ok(dir, opts);
    expect_detail("torn tail");
    expect_detail(walname);
    char dropped[64];
    snprintf(dropped, sizeof dropped, "dropped %ld bytes from offset %ld", cut - ends[NKEYS - 2],
             ends[NKEYS - 2]);
    expect_detail(dropped);
    for (int i = 0; i < NKEYS - 1; i++)
        assert_true(has_key(kv, i));
    assert_false(has_key(kv, NKEYS - 1));
    /* The store goes on working, and the next open is clean. */
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"after", 5, (const uint8_t *)"x", 1), 0);
    orbit_kv_close(kv);
    kv = open_ok(dir, "wal_recovery=strict");
    assert_string_equal(orbit_last_error_detail(), "");
    assert_true(has_key(kv, 0));
    orbit_kv_close(kv);
}

static void test_torn_tail(void **state)
{
    torn_round(*state, "");
}

static void test_torn_tail_pessimistic(void **state)
{
    torn_round(*state, "txn=pessimistic");
}

/* A file extended with zeros past its last record (space allocated but
 * never written before a power loss): a torn tail of that many bytes, and
 * every record is kept. */
static void test_zero_tail(void **state)
{
    const char *dir = *state;
    long ends[NKEYS];
    write_keys(dir, "", ends);
    const char *wal = wal_path(dir);
    assert_int_equal(truncate(wal, ends[NKEYS - 1] + 4096), 0);
    orbit_kv *kv = open_ok(dir, "");
    expect_detail("zero bytes");
    char dropped[64];
    snprintf(dropped, sizeof dropped, "dropped 4096 bytes from offset %ld", ends[NKEYS - 1]);
    expect_detail(dropped);
    for (int i = 0; i < NKEYS; i++)
        assert_true(has_key(kv, i));
    orbit_kv_close(kv);
}

/* A value spanning blocks cut in its middle block: the whole record goes,
 * from its first fragment. */
static void test_torn_fragmented_record(void **state)
{
    const char *dir = *state;
    orbit_kv *kv = open_ok(dir, "");
    const char *wal = wal_path(dir);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1), 0);
    long start = file_size(wal);
    size_t big = 100000;
    uint8_t *v = calloc(1, big);
    assert_non_null(v);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"big", 3, v, big), 0);
    orbit_kv_close(kv);
    free(v);
    long cut = 32768 * 2 + 1000;
    assert_int_equal(truncate(wal, cut), 0);

    kv = open_ok(dir, "");
    char dropped[64];
    snprintf(dropped, sizeof dropped, "dropped %ld bytes from offset %ld", cut - start, start);
    expect_detail(dropped);
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)"a", 1, &b), 0);
    assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)"big", 3, &b), ORBIT_NOTFOUND);
    orbit_buf_release(&b);
    orbit_kv_close(kv);
}

/* ---- damage in the middle ------------------------------------------------- */

/* One byte flipped inside the 5th record: intact records follow, so the
 * default open fails with ECORRUPT naming the file and the offset, and
 * leaves the file as it was (so does a read-only open); salvage keeps the
 * records before the damage and reports what it dropped. */
static void middle_round(const char *dir, const char *opts)
{
    long ends[NKEYS];
    write_keys(dir, opts, ends);
    const char *wal = wal_path(dir);
    char walname[64];
    snprintf(walname, sizeof walname, "%s", base_name(wal));
    long n;
    uint8_t *bytes = read_file(wal, &n);
    long at = ends[3] + (ends[4] - ends[3]) - 3; /* in record 4's payload */
    bytes[at] ^= 0x40;
    write_file(wal, bytes, n);

    char where[64];
    snprintf(where, sizeof where, "at offset %ld", ends[3]);
    static const char *refusing[] = {"", "wal_recovery=torn_tail", "wal_recovery=strict",
                                     "read_only=1"};
    for (size_t i = 0; i < sizeof refusing / sizeof *refusing; i++) {
        char o[256];
        snprintf(o, sizeof o, "%s%s%s", opts, *opts && *refusing[i] ? "&" : "", refusing[i]);
        orbit_kv *kv = NULL;
        int rc = orbit_kv_open(uri_of(dir, o), &kv);
        if (rc != ORBIT_ECORRUPT)
            fail_msg("open ?%s: %s, want ECORRUPT", o, orbit_err_name(rc));
        assert_null(kv);
        expect_detail(walname);
        expect_detail(where);
        expect_detail("checksum mismatch");
        expect_detail("wal_recovery=salvage");
        long n2;
        uint8_t *again = read_file(wal, &n2);
        assert_int_equal(n2, n);
        assert_memory_equal(again, bytes, (size_t)n);
        free(again);
    }
    free(bytes);

    /* A salvaging read-only open shows what a repair would keep, and
     * changes nothing either. */
    char o[256];
    snprintf(o, sizeof o, "%s%swal_recovery=salvage&read_only=1", opts, *opts ? "&" : "");
    orbit_kv *kv = open_ok(dir, o);
    expect_detail("salvage");
    for (int i = 0; i < 4; i++)
        assert_true(has_key(kv, i));
    for (int i = 4; i < NKEYS; i++)
        assert_false(has_key(kv, i));
    orbit_kv_close(kv);
    assert_int_equal(file_size(wal), n);

    snprintf(o, sizeof o, "%s%swal_recovery=salvage", opts, *opts ? "&" : "");
    kv = open_ok(dir, o);
    char dropped[96];
    snprintf(dropped, sizeof dropped, "dropped %ld bytes including %d intact records", n - ends[3],
             NKEYS - 5);
    expect_detail(dropped);
    expect_detail(walname);
    for (int i = 0; i < 4; i++)
        assert_true(has_key(kv, i));
    for (int i = 4; i < NKEYS; i++)
        assert_false(has_key(kv, i));
    orbit_kv_close(kv);
    /* Repaired: the default open is clean again. */
    kv = open_ok(dir, opts);
    assert_string_equal(orbit_last_error_detail(), "");
    assert_true(has_key(kv, 3));
    orbit_kv_close(kv);
}

static void test_middle_damage(void **state)
{
    middle_round(*state, "");
}

static void test_middle_damage_pessimistic(void **state)
{
    middle_round(*state, "txn=pessimistic");
}

/* A damaged record header (an impossible length) in the middle: the scan
 * resynchronises at the next block and still finds what follows. */
static void test_damaged_header_across_blocks(void **state)
{
    const char *dir = *state;
    orbit_kv *kv = open_ok(dir, "");
    const char *wal = wal_path(dir);
    char k[16];
    uint8_t v[1000];
    memset(v, 'x', sizeof v);
    long first_end = 0;
    for (int i = 0; i < 100; i++) { /* ~100 KB: four blocks */
        snprintf(k, sizeof k, "key%03d", i);
        assert_int_equal(orbit_kv_put(kv, (const uint8_t *)k, strlen(k), v, sizeof v), 0);
        if (i == 0)
            first_end = file_size(wal);
    }
    orbit_kv_close(kv);
    long n;
    uint8_t *bytes = read_file(wal, &n);
    bytes[first_end + 4] = 0xff; /* record 2's length: 0xff.. runs past the block */
    bytes[first_end + 5] = 0xff;
    write_file(wal, bytes, n);
    free(bytes);
    kv = NULL;
    assert_int_equal(orbit_kv_open(uri_of(dir, ""), &kv), ORBIT_ECORRUPT);
    expect_detail("length beyond its block");
    kv = open_ok(dir, "wal_recovery=salvage");
    assert_int_equal(get_rc(kv, NULL, "key000", 6), 0);
    assert_int_equal(get_rc(kv, NULL, "key001", 6), ORBIT_NOTFOUND);
    assert_int_equal(get_rc(kv, NULL, "key099", 6), ORBIT_NOTFOUND);
    orbit_kv_close(kv);
}

static void test_recovery_option(void **state)
{
    const char *dir = *state;
    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open(uri_of(dir, "wal_recovery=skip"), &kv), ORBIT_EINVAL);
    expect_detail("wal_recovery");
    expect_detail("torn_tail, strict or salvage");
    static const char *ok[] = {"wal_recovery=torn_tail", "wal_recovery=strict",
                               "wal_recovery=salvage"};
    for (size_t i = 0; i < 3; i++) {
        kv = open_ok(dir, ok[i]);
        orbit_kv_close(kv);
    }
}

/* ---- opening: create, read_only, paths ------------------------------------ */

static void test_missing_store(void **state)
{
    const char *dir = *state;
    char path[1024];
    snprintf(path, sizeof path, "%s/db", dir);
    static const char *opts[] = {"create=0", "read_only=1", "read_only=1&create=0"};
    for (size_t i = 0; i < 3; i++) {
        orbit_kv *kv = NULL;
        assert_int_equal(orbit_kv_open(uri_of(dir, opts[i]), &kv), ORBIT_ENOSTORE);
        assert_null(kv);
        expect_detail(path);
        struct stat st;
        assert_int_not_equal(stat(path, &st), 0); /* nothing was created */
    }
    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open(uri_of(dir, "read_only=1&create=1"), &kv), ORBIT_EINVAL);
    expect_detail("read_only");
    /* A file where the directory should be. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(orbit_kv_open(uri_of(dir, "create=0"), &kv), ORBIT_ENOSTORE);
    expect_detail("not a directory");
}

static void expect_refused(int rc)
{
    assert_int_equal(rc, ORBIT_ENOTSUP);
    expect_detail("read-only");
}

/* read_only=1: RocksDB's read-only mode. It opens while a writer holds the
 * store (no lock), sees the data as of its open, and refuses every write. */
static void test_read_only(void **state)
{
    const char *dir = *state;
    orbit_kv *w = open_ok(dir, "");
    assert_int_equal(orbit_kv_put(w, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1), 0);

    orbit_kv *r = open_ok(dir, "read_only=1");
    assert_int_equal(get_rc(r, NULL, "a", 1), 0);
    /* A write after the read-only open is not seen by it. */
    assert_int_equal(orbit_kv_put(w, (const uint8_t *)"b", 1, (const uint8_t *)"2", 1), 0);
    assert_int_equal(get_rc(r, NULL, "b", 1), ORBIT_NOTFOUND);

    orbit_capabilities caps;
    orbit_kv_capabilities(r, &caps);
    assert_int_equal(caps.supports_transactions, 0);
    expect_refused(orbit_kv_put(r, (const uint8_t *)"c", 1, (const uint8_t *)"3", 1));
    expect_refused(orbit_kv_del(r, (const uint8_t *)"a", 1));
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)"c", 1, (const uint8_t *)"3", 1), 0);
    expect_refused(orbit_kv_write(r, b));
    orbit_batch_free(b);
    expect_refused(orbit_kv_delete_range(r, (const uint8_t *)"a", 1, (const uint8_t *)"b", 1));
    orbit_txn *t = NULL;
    assert_true(orbit_kv_txn_begin(r, NULL, &t) < 0);
    assert_null(t);

    /* Reads: scans and snapshots work. */
    orbit_snapshot *snap = NULL;
    assert_int_equal(orbit_kv_snapshot(r, &snap), 0);
    orbit_read_opts ro = {snap};
    assert_int_equal(get_rc(r, &ro, "a", 1), 0);
    orbit_snapshot_release(snap);
    orbit_iter *it = NULL;
    assert_int_equal(orbit_kv_iter(r, NULL, NULL, &it), 0);
    const uint8_t *k, *v;
    size_t kl, vl;
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), 0);
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_NOTFOUND);
    orbit_iter_close(it);
    orbit_kv_close(r);
    orbit_kv_close(w);

    /* Another read-only open of the closed store sees both. */
    r = open_ok(dir, "read_only=1");
    assert_int_equal(get_rc(r, NULL, "b", 1), 0);
    orbit_kv_close(r);
}

static void test_path_forms(void **state)
{
    const char *dir = *state;
    orbit_kv *kv = NULL;
    /* A leading ~ reaches the provider as is; "////x" reaches it as "//x"
     * where src/kv/uri.c drops one "//" (and is refused there when it
     * checks rocksdb: paths itself). */
    assert_int_equal(orbit_kv_open("rocksdb:~/orbit-test-x", &kv), ORBIT_EBADURI);
    expect_detail("~");
    expect_detail("expand");
    assert_int_equal(orbit_kv_open("rocksdb:////orbit-test-x", &kv), ORBIT_EBADURI);
    expect_detail("rocksdb:/");
    assert_null(kv);
    struct stat st;
    assert_int_not_equal(stat("~", &st), 0);

    /* Relative paths are accepted (against the working directory). */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    kv = NULL;
    assert_int_equal(orbit_kv_open("rocksdb:rel/db", &kv), 0);
    orbit_kv_close(kv);
    assert_int_equal(orbit_kv_open("rocksdb:./rel/db?create=0", &kv), 0);
    orbit_kv_close(kv);
    assert_int_equal(chdir(cwd), 0);
    char p[1100];
    snprintf(p, sizeof p, "%s/rel/db/CURRENT", dir);
    assert_int_equal(stat(p, &st), 0);
}

/* ---- many short opens ------------------------------------------------------ */

static int count_files(const char *dir, const char *suffix)
{
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/db", dir);
    DIR *d = opendir(sub);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (e->d_name[0] != '.' && l >= sl && strcmp(e->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Each open flushes the last one's WAL into a level-0 file; the open
 * compacts level 0 once it holds RDB_L0_COMPACT_FILES (8), so the file
 * count stays bounded however many opens there are. */
static void test_many_short_opens(void **state)
{
    const char *dir = *state;
    const int opens = 60;
    int max_sst = 0;
    for (int i = 0; i < opens; i++) {
        orbit_kv *kv = open_ok(dir, i % 2 ? "txn=pessimistic" : "");
        char k[16], v[16];
        key_of(i, k, v);
        assert_int_equal(orbit_kv_put(kv, (const uint8_t *)k, strlen(k), (const uint8_t *)v,
                                      strlen(v)),
                         0);
        orbit_kv_close(kv);
        int n = count_files(dir, ".sst");
        if (n > max_sst)
            max_sst = n;
    }
    /* At most 8 level-0 files plus the level-1 output. */
    assert_true(max_sst <= 10);
    assert_true(count_files(dir, "") <= 30);
    orbit_kv *kv = open_ok(dir, "read_only=1");
    for (int i = 0; i < opens; i++)
        assert_true(has_key(kv, i));
    orbit_kv_close(kv);
}

/* A store left with 100 level-0 files (as older versions left it after a
 * hundred one-shot writes, made here with RocksDB directly) opens under a
 * descriptor limit of 64, in a child process: the compaction works in
 * chunks and the table cache is bounded, and every key is still there. */
static void test_bloated_store_low_fd_limit(void **state)
{
    const char *dir = *state;
    char path[1024];
    snprintf(path, sizeof path, "%s/db", dir);
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_disable_auto_compactions(o, 1);
    char *err = NULL;
    rocksdb_t *db = rocksdb_open(o, path, &err);
    assert_null(err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "b%03d", i);
        rocksdb_put(db, wo, k, strlen(k), "v", 1, &err);
        assert_null(err);
        rocksdb_flush(db, fo, &err);
        assert_null(err);
    }
    rocksdb_flushoptions_destroy(fo);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
    assert_true(count_files(dir, ".sst") >= 100);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {64, 64};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(2);
        orbit_kv *kv = NULL;
        if (orbit_kv_open(uri_of(dir, ""), &kv) != 0) {
            fprintf(stderr, "open: %s\n", orbit_last_error_detail());
            _exit(3);
        }
        for (int i = 0; i < 100; i++) {
            char k[16];
            snprintf(k, sizeof k, "b%03d", i);
            if (get_rc(kv, NULL, k, strlen(k)) != 0)
                _exit(4);
        }
        orbit_kv_close(kv);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(count_files(dir, ".sst") <= 10);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        T(test_clean_wal),
        T(test_torn_tail),
        T(test_torn_tail_pessimistic),
        T(test_zero_tail),
        T(test_torn_fragmented_record),
        T(test_middle_damage),
        T(test_middle_damage_pessimistic),
        T(test_damaged_header_across_blocks),
        T(test_recovery_option),
        T(test_missing_store),
        T(test_read_only),
        T(test_path_forms),
        T(test_many_short_opens),
        T(test_bloated_store_low_fd_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
