/*
 * Private to the contract layer and the built-in providers.
 */
#ifndef ORBIT_KV_INT_H
#define ORBIT_KV_INT_H

#include "orbit/provider.h"

/* Built-in provider tables. */
extern const orbit_provider orbit__provider_memory;   /* src/kv/memory.c */
extern const orbit_provider orbit__provider_rocksdb;  /* src/providers/rocksdb/ */
extern const orbit_provider orbit__provider_etcd;     /* src/providers/etcd/ */

/* NULL-terminated list of the providers registered at start-up
 * (src/providers/builtin.c). */
extern const orbit_provider *const orbit__builtin_providers[];

#endif
