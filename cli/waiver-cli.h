/* `bulwark waiver create|approve|list|withdraw`: the two-person
 * acceptance of a failing control's risk (docs/compliance.md,
 * "Waivers"). cli-args.c parses the command line; cli.c resolves the
 * client configuration and calls this. */
#ifndef BW_WAIVER_CLI_H
#define BW_WAIVER_CLI_H

struct cli_opts;
struct client_conf;

/* Runs waiver command O->cmd against the server CONF names: create
 * sends the Waiver document in O->file ('-': standard input), approve
 * and withdraw name O->name, list prints a table (or JSON with -o json).
 * Prints the server's error. Returns the CLI exit status (enum cli_exit). */
int waiver_cli(const struct cli_opts *o, const struct client_conf *conf);

#endif
