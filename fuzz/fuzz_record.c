/*
 * libFuzzer target for the record decoder (src/codec/record.c). Properties:
 * orbit_record_decode on arbitrary bytes returns 0 or ORBIT_ECORRUPT (or
 * ORBIT_ENOMEM), never reads outside the record, and on success hands out
 * a payload and actor fields that can be read in full; the decoded fields
 * re-encode (uncompressed) to a record that decodes to the same values,
 * and that record fails verification under any other key (the checksum
 * covers the key).
 * Random bytes almost never pass the checksum, so the input minus its first
 * byte is also decoded after sealing it with a valid checksum, which lets
 * the fuzzer reach the header, varint and decompression checks; and it is
 * encoded as a payload under every compression mode (options taken from
 * the first byte) and must decode back unchanged.
 *
 * Run (clang only; fuzz/CMakeLists.txt builds it):
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug
 *   cmake --build build-fuzz --target fuzz_record
 *   mkdir -p /tmp/corpus-record && build-fuzz/fuzz/fuzz_record /tmp/corpus-record -max_total_time=300
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <xxhash.h>

#include "orbit/buf.h"
#include "orbit/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* (1, "kv", "fuzz") and the same user key in keyspace 2 */
static const uint8_t KEY[] = {0x15, 0x01, 0x01, 'k', 'v', 0x00, 0x01, 'f', 'u', 'z', 'z', 0x00};
static const uint8_t KEY2[] = {0x15, 0x02, 0x01, 'k', 'v', 0x00, 0x01, 'f', 'u', 'z', 'z', 0x00};

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

/* Touch every byte so ASan sees any out-of-bounds view. */
static unsigned sum(const uint8_t *p, size_t n)
{
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

static void same_meta(const orbit_record_meta *a, const orbit_record_meta *b)
{
    check(a->model == b->model && a->schema_version == b->schema_version &&
          a->created_ms == b->created_ms && a->updated_ms == b->updated_ms &&
          a->actor_type_len == b->actor_type_len && a->actor_id_len == b->actor_id_len);
    check(a->actor_type_len == 0 || memcmp(a->actor_type, b->actor_type, a->actor_type_len) == 0);
    check(a->actor_id_len == 0 || memcmp(a->actor_id, b->actor_id, a->actor_id_len) == 0);
}

/* Decode rec; on success check the views and the uncompressed re-encoding. */
static void decode_and_check(const uint8_t *rec, size_t size)
{
    orbit_buf scratch = ORBIT_BUF_INIT, re = ORBIT_BUF_INIT, scratch2 = ORBIT_BUF_INIT;
    orbit_record_meta m, m2;
    const uint8_t *p, *p2;
    size_t n, n2;
    int rc = orbit_record_decode(rec, size, KEY, sizeof KEY, &m, &scratch, &p, &n);
    check(rc == 0 || rc == ORBIT_ECORRUPT || rc == ORBIT_ENOMEM);
    if (rc == 0) {
        (void)sum(p, n);
        (void)sum(m.actor_type, m.actor_type_len);
        (void)sum(m.actor_id, m.actor_id_len);
        check(orbit_record_encode(&re, KEY, sizeof KEY, &m, NULL, p, n) == 0);
        check(orbit_record_decode(re.data, re.len, KEY, sizeof KEY, &m2, &scratch2, &p2, &n2) == 0);
        same_meta(&m, &m2);
        check(n2 == n && (n == 0 || memcmp(p, p2, n) == 0));
        check(orbit_record_decode(re.data, re.len, KEY2, sizeof KEY2, &m2, &scratch2, &p2, &n2) ==
              ORBIT_ECORRUPT);
        check(orbit_record_decode(rec, size, KEY2, sizeof KEY2, &m2, &scratch2, &p2, &n2) ==
              ORBIT_ECORRUPT);
    }
    orbit_buf_release(&scratch);
    orbit_buf_release(&scratch2);
    orbit_buf_release(&re);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_and_check(data, size);
    if (size < 1)
        return 0;

    /* The rest, sealed with a valid format-2 checksum under KEY. */
    orbit_buf sealed = ORBIT_BUF_INIT;
    uint64_t h = XXH3_64bits_withSeed(KEY, sizeof KEY, XXH3_64bits(data + 1, size - 1));
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(h >> (8 * i));
    check(orbit_buf_append(&sealed, data + 1, size - 1) == 0);
    check(orbit_buf_append(&sealed, le, 8) == 0);
    decode_and_check(sealed.data, sealed.len);
    orbit_buf_release(&sealed);

    /* The rest as a payload, under every compression mode. */
    orbit_buf re = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    orbit_record_meta em, m2;
    const uint8_t *p2;
    size_t n2;
    memset(&em, 0, sizeof em);
    em.model = (orbit_model)(data[0] % 7);
    em.created_ms = size;
    for (int c = ORBIT_COMPRESS_NONE; c <= ORBIT_COMPRESS_ZSTD; c++) {
        orbit_record_opts o = {(orbit_compression)c, 1 + (size_t)(data[0] >> 3), 1 + data[0] % 5};
        re.len = 0;
        check(orbit_record_encode(&re, KEY, sizeof KEY, &em, &o, data + 1, size - 1) == 0);
        check(orbit_record_decode(re.data, re.len, KEY, sizeof KEY, &m2, &scratch, &p2, &n2) == 0);
        same_meta(&em, &m2);
        check(n2 == size - 1 && (n2 == 0 || memcmp(p2, data + 1, n2) == 0));
    }
    orbit_buf_release(&re);
    orbit_buf_release(&scratch);
    return 0;
}
