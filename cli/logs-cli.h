/* `bulwark logs INSTANCE -t T [--follow] [--tail N] [--json]`: an
 * instance's output, read from its node through bulwarkd
 * (daemon/logs-api.h, docs/workloads.md "Logs"). cli-args.c parses the
 * command line; cli.c resolves the client configuration and calls this. */
#ifndef BW_LOGS_CLI_H
#define BW_LOGS_CLI_H

struct cli_opts;
struct client_conf;

/* Prints the last O->tail_lines lines (0: all bulwarkd holds) of
 * instance O->name of O->tenant, then with O->follow the new ones as
 * they come, until interrupted. With -o json / --json each answer is one
 * JSON line {"offset","end","dropped","data"}. Returns the CLI exit
 * status (enum cli_exit). */
int logs_cli(const struct cli_opts *o, const struct client_conf *conf);

#endif
