/* The node's side of instance logs (daemon/logs-api.h): the agent
 * dials bulwarkd and is never dialled, so it pushes the logs that
 * readers ask for. Each exchange sends the asked-for chunks (read with
 * lib/logcap.h from the instances' logs) and learns what is asked for
 * next. */
#ifndef BW_LOGS_PUSH_H
#define BW_LOGS_PUSH_H

#include "agent/agent-run.h"

struct runtime;
struct logs_push;

int logs_push_new(struct logs_push **ret);
void logs_push_free(struct logs_push *lp);	/* NULL ok */

/* One exchange with the control plane for node NODE through HTTP(CTX):
 * POSTs the chunks asked for last time and keeps the new list. Returns
 * the number of logs asked for now (then call again after
 * logs_push_period_ms()), or a negative error with *RET_ERR. */
int logs_push_exchange(struct logs_push *lp, struct runtime *rt,
    const char *node, agent_run_http_fn http, void *ctx, char **ret_err);

/* How long to wait between exchanges while logs are asked for. */
unsigned logs_push_period_ms(const struct logs_push *lp);

#endif
