/* `bulwark store snapshot|verify|restore`: snapshots of the etcd cluster
 * under the store, taken through bulwarkd (daemon/store-api.h), checked
 * and restored offline (docs/ha.md, "Snapshot and restore"). cli-args.c
 * parses the command line; cli.c resolves the client configuration and
 * calls this. */
#ifndef BW_STORE_CLI_H
#define BW_STORE_CLI_H

struct cli_opts;
struct client_conf;

/* Runs O->cmd (CLI_STORE_*). snapshot: writes O->out_file, only once
 * it is whole and its digest matches. verify: checks O->path. restore:
 * checks O->path, then runs `etcdctl snapshot restore` for the member O
 * names (this process becomes etcdctl; its exit status is the
 * command's). Returns the CLI exit status (enum cli_exit). */
int store_cli(const struct cli_opts *o, const struct client_conf *conf);

#endif
