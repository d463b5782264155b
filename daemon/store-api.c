/* The store operations endpoint; see store-api.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "controlplane/authz.h"
#include "controlplane/store-etcd.h"
#include "daemon/store-api.h"
#include "lib/err.h"
#include "lib/macro.h"

struct snap_job {
	struct api_server		*srv;
	struct evhttp_request		*req;
	struct authz_identity		 id;
	struct store			*store;
	char				 path[PATH_MAX];
	int				 fd;
	uint64_t			 rev;	/* the store's before it */
	struct store_snapshot_info	 info;
	int				 r;
	char				*err;
	int				 counted;	/* in snapshots_running */
};

/* Snapshots being taken (loop thread only). One at a time: each holds an
 * offload worker and a whole copy of the store on the file system the
 * trail is on. */
static unsigned snapshots_running;

/* Worker thread: the snapshot into the job's file, which was unlinked
 * once open (nothing is left behind if the daemon dies meanwhile). */
static void
snap_job_run(void *arg)
{
	struct snap_job *j = arg;

	j->rev = store_revision(j->store);
	j->r = store_etcd_snapshot(j->store, j->fd, &j->info, &j->err);
}

static void
snap_job_free(struct snap_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->counted)
		snapshots_running--;
	free(j->err);
	free(j);
}

static void
snap_reply_error(struct snap_job *j, int r)
{
	api_audit(j->srv, &j->id, "store.snapshot", "Store", "system", NULL,
	    "failure", j->err ? j->err : bw_strerror(r));
	if (r == -ENOTSUP)
		api_reply_error(j->srv, j->req, 501, "not_implemented", j->err);
	else
		api_reply_err(j->srv, j->req, r, j->err);
}

/* Loop thread: sends the file and records who took it. */
static void
snap_job_done(void *arg, bool cancelled)
{
	struct snap_job	*j = arg;
	struct evbuffer	*buf = NULL;
	char		 reason[256];
	int		 r = j->r;

	if (cancelled)
		r = errf(-BW_E_UNAVAILABLE, &j->err, "the server is shutting "
		    "down");
	if (r == 0 && (!(buf = evbuffer_new()) || evbuffer_add_file(buf, j->fd,
	    0, (ev_off_t)j->info.bytes) < 0))
		r = errf(-EIO, &j->err, "cannot read the snapshot back");
	if (r < 0) {
		evbuffer_free(buf);
		snap_reply_error(j, r);
		snap_job_free(j);
		return;
	}
	j->fd = -1;	/* the buffer owns it */
	evhttp_add_header(evhttp_request_get_output_headers(j->req),
	    "Content-Type", "application/octet-stream");
	evhttp_add_header(evhttp_request_get_output_headers(j->req),
	    "X-Bulwark-Snapshot-Sha256", j->info.sha256);
	/* Recorded before a byte of the store leaves. */
	snprintf(reason, sizeof(reason), "etcd snapshot of %" PRIu64 " bytes, "
	    "sha256 %s, store revision %" PRIu64 " or later", j->info.bytes,
	    j->info.sha256, j->rev);
	api_audit(j->srv, &j->id, "store.snapshot", "Store", "system", NULL,
	    "success", reason);
	evhttp_send_reply(j->req, 200, "OK", buf);
	evbuffer_free(buf);
	snap_job_free(j);
}

static void
handle_snapshot(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *data_dir)
{
	struct snap_job	*j;

	if (id->role != ROLE_SYSTEM_ADMIN) {
		api_audit(srv, id, "store.snapshot", "Store", "system", NULL,
		    "denied", "only system-admin takes store snapshots");
		api_reply_error(srv, req, 403, "forbidden",
		    "only system-admin takes store snapshots");
		return;
	}
	if (snapshots_running > 0) {
		api_audit(srv, id, "store.snapshot", "Store", "system", NULL,
		    "failure", "another snapshot is being taken");
		api_reply_error(srv, req, 409, "conflict", "another snapshot "
		    "is being taken; try again when it has finished");
		return;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		api_reply_err(srv, req, -ENOMEM, NULL);
		return;
	}
	*j = (struct snap_job){ .srv = srv, .req = req, .id = *id,
	    .store = api_store(srv), .fd = -1, .counted = 1 };
	snapshots_running++;
	/* In the data directory, not /tmp: it holds every object. */
	snprintf(j->path, sizeof(j->path), "%s/store-snapshot-%d-%lld.db",
	    data_dir, (int)getpid(), (long long)time(NULL));
	j->fd = open(j->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (j->fd < 0) {
		j->err = NULL;
		errf(-errno, &j->err, "%s: %m", j->path);
		snap_reply_error(j, -EIO);
		snap_job_free(j);
		return;
	}
	unlink(j->path);
	if (api_offload_submit(srv, req, id, "store.snapshot", snap_job_run,
	    snap_job_done, j) < 0)
		snap_job_free(j);
}

void
store_api_handle(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *path, void *arg)
{
	int	 status = strcmp(path, STORE_API_PREFIX "snapshot") != 0 ? 404 :
	    evhttp_request_get_command(req) != EVHTTP_REQ_GET ? 405 : 200;

	if (status != 200) {
		api_audit(srv, id, "api.request", NULL, NULL, NULL, "failure",
		    status == 404 ? "no such path" : "method not allowed");
		api_reply_error(srv, req, status, status == 404 ? "not_found" :
		    "method_not_allowed", status == 404 ? "no such path" :
		    "use GET");
		return;
	}
	handle_snapshot(srv, req, id, arg);
}
