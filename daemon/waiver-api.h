/* bulwarkd's waiver endpoints and expiry timer (docs/compliance.md,
 * "Waivers"). A waiver accepts the risk of a failing control or check
 * until a time; it takes two persons:
 *   POST   /v1/compliance/waivers               a system-admin asks
 *   POST   /v1/compliance/waivers/NAME/approval a security-auditor other
 *                                               than the requester approves
 *   DELETE /v1/compliance/waivers/NAME          a system-admin withdraws
 * Waiver objects are read with the resource API (GET /v1/waivers), which
 * never lets a tenant role or a node see them. Every step is a store write
 * with its audit record through the commit pipeline; when an approved or
 * requested waiver reaches its expiry, bulwarkd records
 * compliance.waiver_expired on the Waiver within a second and asks for a
 * new scan. The scans read the waivers with waiver_api_list(). */
#ifndef BW_WAIVER_API_H
#define BW_WAIVER_API_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "compliance/waiver.h"
#include "controlplane/api.h"
#include "controlplane/authz.h"

#define WAIVER_CONTROLS		"CA-5,CA-7,RA-3"
#define WAIVER_PREFIX		"/v1/compliance/waivers"

struct store;

struct waiver_api {
	struct api_server	*srv;
	struct event		*timer;		/* the next expiry */
	/* Called when a change alters what a scan would say (an approval,
	 * an expiry); NULL: nobody to tell. */
	void			(*changed)(void *arg);
	void			*changed_arg;
	unsigned long long	 expired;	/* expiries recorded */
	unsigned		 inflight;	/* expiry records not done yet */
	/* After a failed expiry record (audit trail or store unavailable),
	 * no new attempt before retry_at; backoff_s doubles per failed
	 * round (comp_waiver_backoff) and resets on a record made. */
	unsigned		 backoff_s;
	time_t			 retry_at;
	bool			 detached;
};

/* Prepares the endpoints and arms the expiry timer on BASE (waivers that
 * expired while bulwarkd was down are recorded at once). Returns 0 or
 * -ENOMEM with *ret_err. */
int waiver_api_init(struct waiver_api *wa, struct event_base *base,
    struct api_server *srv, void (*changed)(void *arg), void *changed_arg,
    char **ret_err);

/* Stops the timer (before the API server and the committer go away). */
void waiver_api_detach(struct waiver_api *wa);
void waiver_api_done(struct waiver_api *wa);

/* api_handler_fn for WAIVER_PREFIX; ARG is the waiver_api. */
void waiver_api_handle(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *path, void *arg);

/* Every stored waiver into *ret (free with comp_waivers_free()), *ret_n
 * of them; objects that do not parse are skipped (they cannot have been
 * written by these endpoints). Returns 0 or a negative error. */
int waiver_api_list(struct store *st, struct comp_waiver **ret,
    size_t *ret_n);

#endif
