/*
 * `orbit store`: operations on a whole store rather than its keys.
 *
 * `store repair` is the explicit salvage path for a RocksDB store whose
 * write-ahead log is damaged. A normal open never drops acknowledged data
 * silently: a WAL damaged in the middle makes it fail with ECORRUPT (the
 * rocksdb provider's wal_recovery default). Repair opens the store with
 * the provider's salvage mode (the URI option wal_recovery=salvage: replay
 * up to the damage and drop the rest), never creating a missing store
 * (create=0), closes it again, and prints what the provider reported about
 * the recovery (what was dropped) so the user sees it on the terminal, not
 * only in RocksDB's LOG file.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "orbit/provider.h"

const char orbit__usage_store[] =
    "  orbit store repair [PATH | --store URI]\n"
    "                        open a rocksdb: store whose write-ahead log is damaged,\n"
    "                        keep what precedes the damage and drop the rest\n"
    "                        (wal_recovery=salvage; never the default), then report\n"
    "                        what was dropped; default: the global --store\n";

static int store_repair(const cli_ctx *ctx, int argc, char **argv)
{
    const char *store = ctx->store, *path = NULL;
    for (int i = 2; i < argc;) {
        const char *v;
        int r = orbit__cli_opt(argc, argv, &i, "store", &v);
        if (r < 0)
            return orbit__cli_usage(orbit__usage_store, "store repair: --store needs a URI");
        if (r > 0) {
            store = v;
            continue;
        }
        if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !path) {
            path = argv[i + 1];
            i += 2;
            continue;
        }
        if (argv[i][0] == '-' || path)
            return orbit__cli_usage(orbit__usage_store, "store repair: unexpected argument %s", argv[i]);
        path = argv[i++];
    }
    char *from_path = NULL;
    if (path) {
        size_t n = strlen(path) + sizeof "rocksdb:";
        from_path = malloc(n);
        if (!from_path)
            return orbit__cli_fail(ORBIT_ENOMEM, "store repair");
        snprintf(from_path, n, "rocksdb:%s", path);
        store = from_path;
    }

    orbit_uri *u = NULL;
    orbit_error_clear();
    int rc = orbit_uri_parse(store, &u);
    int st = CLI_OK;
    if (rc) {
        st = orbit__cli_fail(rc, "store repair %s", store);
    } else if (strcmp(orbit_uri_scheme(u), "rocksdb") != 0) {
        st = orbit__cli_usage(orbit__usage_store, "store repair works on rocksdb: stores, not %s", store);
    } else if (orbit_uri_param(u, "wal_recovery") || orbit_uri_param(u, "create") ||
               orbit_uri_param(u, "read_only")) {
        st = orbit__cli_usage(orbit__usage_store,
                              "store repair sets wal_recovery, create and read_only itself: leave them out of %s",
                              store);
    }
    orbit_uri_free(u);
    char *uri = NULL, *uri2 = NULL;
    if (!st) {
        uri = orbit__cli_uri_with(store, "wal_recovery=salvage");
        uri2 = uri ? orbit__cli_uri_with(uri, "create=0") : NULL;
        if (!uri2)
            st = orbit__cli_fail(ORBIT_ENOMEM, "store repair");
    }
    if (!st) {
        cli_ctx c = *ctx;
        c.store = uri2;
        c.read_only = 0;
        orbit_kv *kv = NULL;
        st = orbit__cli_open(&c, CLI_OPEN_WRITE, &kv);
        if (!st) {
            /* What the provider said about the recovery, if anything. */
            char detail[512];
            snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
            orbit_kv_close(kv);
            printf("store repair: %s opened with wal_recovery=salvage\n", store);
            if (detail[0])
                printf("recovery: %s\n", detail);
            else
                printf("recovery: the provider reported nothing dropped\n");
        }
    }
    free(uri);
    free(uri2);
    free(from_path);
    return st;
}

int orbit__cmd_store(const cli_ctx *ctx, int argc, char **argv)
{
    if (orbit__cli_wants_help(argc, argv, 1))
        return orbit__cli_help(orbit__usage_store);
    if (argc < 2)
        return orbit__cli_usage(orbit__usage_store, "store needs a subcommand: repair");
    if (strcmp(argv[1], "repair") == 0)
        return store_repair(ctx, argc, argv);
    return orbit__cli_usage(orbit__usage_store, "unknown store subcommand %s", argv[1]);
}
