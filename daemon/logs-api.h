/* bulwarkd's instance log endpoints (docs/workloads.md, "Logs").
 *
 * An instance's output stays on its node (lib/logcap.h); bulwarkd keeps
 * only what someone is reading. Agents dial bulwarkd and are never
 * dialled, so the node pushes:
 *   GET  /v1/logs/tenants/T/instances/NAME[?tail=N][&after=OFF]
 *        a reader (whoever may read the instance): the last lines, or
 *        what follows logical offset OFF; asking registers interest
 *   POST /v1/logs/nodes/NODE
 *        the node NODE's agent: chunks of the logs asked for; the answer
 *        lists what is asked for now (each log's next offset, or -1 for
 *        its last lines)
 * While a log is read the agent pushes its new lines every
 * LOGS_PUSH_MS; a reader that asks again within LOGS_WANT_S keeps it
 * coming. Memory is bounded: LOGS_STREAMS_MAX logs of LOGS_BUF_MAX bytes,
 * LOGS_PER_PRINCIPAL logs read at once by one principal. */
#ifndef BW_LOGS_API_H
#define BW_LOGS_API_H

#include <stdint.h>

#include "controlplane/api.h"
#include "controlplane/authz.h"

#define LOGS_PREFIX		"/v1/logs/"
#define LOGS_BUF_MAX		(128 * 1024)
#define LOGS_STREAMS_MAX	128
#define LOGS_PER_PRINCIPAL	8
#define LOGS_WANT_S		10	/* a log is pushed this long after a read */
#define LOGS_IDLE_S		60	/* then forgotten after this long */
#define LOGS_PUSH_MS		200	/* the agent's push period while read */
#define LOGS_CHUNK_MAX		(64 * 1024)	/* per log and push */
#define LOGS_TAIL_MAX		10000	/* ?tail=N */

struct logs_stream;
struct logs_reader;

struct logs_api {
	struct api_server	*srv;
	struct logs_stream	*streams;
	struct logs_reader	*readers;
	unsigned		 nstreams;
};

/* Prepares the endpoints of LA for SRV. */
void logs_api_init(struct logs_api *la, struct api_server *srv);
/* Frees what LA holds (not LA). */
void logs_api_free(struct logs_api *la);

/* The api_server_add_handler() handler for LOGS_PREFIX; ARG is the
 * struct logs_api. */
void logs_api_handle(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *path, void *arg);

#endif
