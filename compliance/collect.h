/* The privileged read-only collector's two ends (bulwark-collect(8);
 * the wire format is compliance/collect-proto.h): the collector runs
 * the checks of comp_collect_checks[] on the host and encodes their
 * results; bulwarkd asks it over its socket and merges the answer into
 * its own scan. The checks' host observations then come from the
 * collector, their fact observations (what only bulwarkd knows: audit
 * trail health, roles, ...) from bulwarkd's own run of the same check. */
#ifndef BW_COMPLIANCE_COLLECT_H
#define BW_COMPLIANCE_COLLECT_H

#include <stddef.h>

#include "compliance/check.h"
#include "compliance/collect-proto.h"

/* How long bulwarkd waits for a whole answer, on its event loop: the
 * collector answers in about 8 ms on the appliance, but each answer is
 * a new socket-activated, sandboxed service (and the sysctl record's
 * oneshot before it): under QEMU's TCG on a busy host that took more
 * than 2 s (make check-iso of ff52498, 2026-12-07: every collector
 * check "no whole answer"), so 10 s, once per scan. */
#define COMP_COLLECT_TIMEOUT_MS	10000

/* Runs the collector's checks on CTX and encodes the answer frame
 * (header and payload) into *ret_buf, *ret_len. A check not satisfied
 * only by its fact observations (the collector knows no facts) is sent
 * with the verdict of its host observations. A check with more
 * observations or evidence than the protocol's bounds is sent as an
 * error, and an answer that would be over COMP_COLLECT_ANSWER_MAX
 * becomes one saying so in each check's error: never a list cut short.
 * Returns 0 or -ENOMEM. */
int comp_collect_answer_build(struct comp_ctx *ctx, unsigned char **ret_buf,
    size_t *ret_len);

/* Asks the collector listening at PATH, waiting at most TIMEOUT_MS for
 * the whole answer, and parses it into *ret. Returns 0; -ENOENT when
 * nothing is at PATH (no collector installed); another negative error
 * with *ret_err saying what went wrong (refused, timed out, garbage). */
int comp_collect_query(const char *path, int timeout_ms,
    struct comp_collect_answer **ret, char **ret_err);

/* Merges the collector's answer A into SCAN: each result of a collector
 * check takes A's non-fact observations and evidence, keeps its own
 * fact ones ("fact:..."), and names the collector as evidence. Its
 * verdict is the worse of the collector's and that of the merged
 * observations, and satisfied only when the collector said so and sent
 * at least one host observation: bulwarkd's facts alone never satisfy
 * it. Either side's error is the result's error. A NULL (the
 * collector did not answer: FAILURE says why) or an answer without that
 * check makes each such result not satisfied with an observation
 * saying so: never satisfied by default. Returns 0 or -ENOMEM. */
int comp_collect_merge(struct comp_scan *scan,
    const struct comp_collect_answer *a, const char *failure);

#endif
