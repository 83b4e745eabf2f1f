/*
 * The providers compiled into liborbit, registered when the library is
 * loaded (a constructor), before any orbit_kv_open. Optional providers are
 * build options (ORBIT_WITH_ROCKSDB, ORBIT_WITH_ETCD, ORBIT_WITH_TIKV); each one built in
 * defines ORBIT_HAVE_<NAME>. This file sits in the providers layer and calls
 * down into the contract layer's public registry, never the other way.
 */
#include <stddef.h>

#include "providers/providers.h"

#ifdef ORBIT_HAVE_TIKV
extern const orbit_provider orbit__provider_tikv; /* src/providers/tikv/ */
#endif

static const orbit_provider *const builtin[] = {
    &orbit__provider_memory,
#ifdef ORBIT_HAVE_ROCKSDB
    &orbit__provider_rocksdb,
#endif
#ifdef ORBIT_HAVE_ETCD
    &orbit__provider_etcd,
#endif
#ifdef ORBIT_HAVE_TIKV
    &orbit__provider_tikv,
#endif
};

__attribute__((constructor)) static void register_builtins(void)
{
    /* A built-in table that failed registration would be a build error
     * caught by the contract tests; nothing to report here. */
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        (void)orbit_provider_register(builtin[i]);
}
