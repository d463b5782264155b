/* `bulwark node bootstrap|approve`: the admin's side of node enrolment
 * (docs/identity.md). cli-args.c parses the command line from its command
 * table; cli.c resolves the client configuration and calls this. */
#ifndef BW_IDENTITY_CLI_H
#define BW_IDENTITY_CLI_H

struct client_conf;

/* Asks the server CONF names to issue a single-use, short-lived bootstrap
 * credential for node NAME (valid TTL seconds; 0: the server's 900), or,
 * with APPROVE, to accept the PCR values NAME quoted at enrolment as its
 * golden values. The credential holds a private key: it is written 0600
 * to OUT, or to standard output, and wiped from memory. Prints the
 * server's error. Returns the CLI exit status (enum cli_exit). */
int identity_cli_node(const struct client_conf *conf, int approve,
    const char *name, unsigned ttl, const char *out);

#endif
