/*
 * Private to the providers layer: the tables of the providers compiled into
 * liborbit. builtin.c registers them with orbit_provider_register() when the
 * library is loaded, so the contract layer (src/kv) knows no provider by
 * name and never includes this header.
 */
#ifndef ORBIT_PROVIDERS_H
#define ORBIT_PROVIDERS_H

#include "orbit/provider.h"

extern const orbit_provider orbit__provider_memory;   /* src/providers/memory/ */
#ifdef ORBIT_HAVE_ROCKSDB
extern const orbit_provider orbit__provider_rocksdb;  /* src/providers/rocksdb/ */
#endif
#ifdef ORBIT_HAVE_ETCD
extern const orbit_provider orbit__provider_etcd;     /* src/providers/etcd/ */
#endif
#ifdef ORBIT_HAVE_TIKV
extern const orbit_provider orbit__provider_tikv;     /* src/providers/tikv/ */
#endif

#endif
