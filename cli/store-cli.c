/* The store snapshot commands; see store-cli.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli-args.h"
#include "cli/store-cli.h"
#include "client/client.h"
#include "controlplane/store-etcd.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

static void
print_snapshot(const char *path, const struct store_snapshot_info *info)
{
	printf("%s: %" PRIu64 " bytes, sha256 %s (matches the digest etcd "
	    "appended)\n", path, info->bytes, info->sha256);
}

/* The server's error answer, as the other commands print it. */
static int
snapshot_refused(int status, const char *body)
{
	_cleanup_json_ json_t	*doc = body ? json_loads(body, 0, NULL) : NULL;
	const char		*code = json_str_at(doc, "error", "code");

	fprintf(stderr, "bulwark: store snapshot: %s (%d %s)\n",
	    client_error_message(doc, "no message"), status, code ? code : "?");
	return cli_exit_for_status(status);
}

/* GETs the snapshot into OUT.part, checks it, and renames it to OUT:
 * no partial or damaged file is left under OUT's name. */
static int
store_snapshot(const struct cli_opts *o, const struct client_conf *conf)
{
	_cleanup_free_ char		*err = NULL, *errbody = NULL;
	_cleanup_free_ char		*part = NULL;
	struct store_snapshot_info	 info;
	int				 fd, r, status = 0, rc = CLI_EXIT_FAILED;

	if (asprintf(&part, "%s.part", o->out_file) < 0)
		return CLI_EXIT_FAILED;
	/* A new file of our own: an existing FILE.part (or a link planted
	 * there) keeps its mode or target, and the store would leak. */
	fd = open(part, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0 && errno == EEXIST)
		fprintf(stderr, "bulwark: store snapshot: %s exists (left by "
		    "an interrupted snapshot?); remove it first\n", part);
	else if (fd < 0)
		fprintf(stderr, "bulwark: store snapshot: %s: %s\n", part,
		    strerror(errno));
	if (fd < 0)
		return CLI_EXIT_USAGE;
	r = client_download(conf, "/v1/store/snapshot", fd,
	    isatty(STDERR_FILENO), &status, &errbody, &err);
	if (r < 0) {
		fprintf(stderr, "bulwark: store snapshot: %s\n",
		    err ? err : bw_strerror(r));
		rc = CLI_EXIT_UNREACHABLE;
	} else if (status != 200) {
		rc = snapshot_refused(status, errbody);
	} else if ((r = store_snapshot_verify_fd(fd, &info, &err)) < 0 ||
	    fsync(fd) < 0) {
		fprintf(stderr, "bulwark: store snapshot: %s\n",
		    r < 0 && err ? err : strerror(errno));
	} else if (rename(part, o->out_file) < 0) {
		fprintf(stderr, "bulwark: store snapshot: %s: %s\n",
		    o->out_file, strerror(errno));
	} else {
		print_snapshot(o->out_file, &info);
		rc = CLI_EXIT_OK;
	}
	close(fd);
	if (rc != CLI_EXIT_OK)
		unlink(part);
	return rc;
}

static int
store_verify(const char *path)
{
	_cleanup_free_ char		*err = NULL;
	struct store_snapshot_info	 info;
	int				 r;

	if ((r = store_snapshot_verify(path, &info, &err)) < 0) {
		fprintf(stderr, "bulwark: %s\n", err ? err : bw_strerror(r));
		return r == -BW_E_CORRUPT ? CLI_EXIT_VERIFY : CLI_EXIT_USAGE;
	}
	print_snapshot(path, &info);
	return CLI_EXIT_OK;
}

/* etcd's own restore keeps every key with its revision and the leases;
 * it rewrites the membership to the new cluster O names. */
static int
store_restore(const struct cli_opts *o)
{
	const char	*argv[16];
	size_t		 n = 0;
	int		 rc;

	if ((rc = store_verify(o->path)) != CLI_EXIT_OK)
		return rc;
	argv[n++] = "etcdctl";
	argv[n++] = "snapshot";
	argv[n++] = "restore";
	argv[n++] = o->path;
	argv[n++] = "--name";
	argv[n++] = o->member;
	argv[n++] = "--initial-cluster";
	argv[n++] = o->initial_cluster;
	argv[n++] = "--initial-advertise-peer-urls";
	argv[n++] = o->peer_url;
	argv[n++] = "--data-dir";
	argv[n++] = o->data_dir;
	if (o->cluster_token) {
		argv[n++] = "--initial-cluster-token";
		argv[n++] = o->cluster_token;
	}
	argv[n] = NULL;
	fflush(stdout);
	if (setenv("ETCDCTL_API", "3", 1) < 0 ||
	    execvp(argv[0], (char *const *)argv) < 0)
		fprintf(stderr, "bulwark: store restore: etcdctl: %s (Debian "
		    "package etcd-client)\n", strerror(errno));
	return CLI_EXIT_FAILED;
}

int
store_cli(const struct cli_opts *o, const struct client_conf *conf)
{
	switch (o->cmd) {
	case CLI_STORE_SNAPSHOT:
		return store_snapshot(o, conf);
	case CLI_STORE_VERIFY:
		return store_verify(o->path);
	case CLI_STORE_RESTORE:
		return store_restore(o);
	default:
		return CLI_EXIT_USAGE;
	}
}
