/*
 * The providers compiled into liborbit, registered before the first open.
 */
#include <stddef.h>

#include "kv/kv_int.h"

const orbit_provider *const orbit__builtin_providers[] = {
    &orbit__provider_memory,
    &orbit__provider_rocksdb,
    &orbit__provider_etcd,
    NULL,
};
