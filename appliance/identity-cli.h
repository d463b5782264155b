/* `bulwark node bootstrap|approve`: the admin's side of node enrolment
 * (docs/identity.md), for cli.c to dispatch to. */
#ifndef BW_APPLIANCE_IDENTITY_CLI_H
#define BW_APPLIANCE_IDENTITY_CLI_H

/* ARGV[0] is "node"; then
 *   bootstrap NAME [--ttl SECS] [-o FILE]   issue a single-use bootstrap
 *                 credential (JSON, written 0600 to FILE or stdout)
 *   approve NAME                            approve the PCR values NAME
 *                 quoted as its golden values
 * with [--config FILE] as for every bulwark command. Returns the CLI
 * exit status (0, 2 usage, 3..5 as cli.c for HTTP errors, 1 other). */
int identity_cli_main(int argc, char **argv);

#endif
