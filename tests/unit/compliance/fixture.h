/* A fixture host tree on which every registered check is satisfied, and
 * helpers to break it. Shared by the check and OSCAL tests. */
#ifndef BW_TEST_COMPLIANCE_FIXTURE_H
#define BW_TEST_COMPLIANCE_FIXTURE_H

#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "compliance/check.h"

struct world {
	char			 root[64];
	struct comp_facts	 facts;
	struct comp_policy	 policy;
	time_t			 now;
	const char		*unauth[4];
	const char		*certs[2];
	const char		*scan_roles[4];
	const char		*account_problems[4];
};

/* Builds a fresh good world in a new temporary directory. */
void world_build(struct world *w);
/* Removes the tree. */
void world_destroy(struct world *w);

void world_put(struct world *w, const char *rel, const char *content,
    mode_t mode);
void world_rm(struct world *w, const char *rel);
void world_chmod(struct world *w, const char *rel, mode_t mode);
void world_mkdir(struct world *w, const char *rel);
/* Rewrites var/lib/dpkg/status: base packages with openssl at
 * OPENSSL_VER plus EXTRA stanzas. */
void world_dpkg(struct world *w, const char *openssl_ver, const char *extra);
/* Sets the mtime of REL to AGE_DAYS before w->now. */
void world_age(struct world *w, const char *rel, int age_days);
/* Writes the advisory feed generated GEN_DAYS ago with one openssl
 * advisory published PUB_DAYS ago. */
void world_advisories(struct world *w, int gen_days, int pub_days);
/* Rewrites REL with every line containing NEEDLE removed. */
void world_drop_lines(struct world *w, const char *rel, const char *needle);

/* Writes OSCAL document DOC as NAME into the directory $BW_OSCAL_OUT
 * when it is set, for tests/integration/compliance-oscal.sh to validate;
 * does nothing otherwise. */
void world_oscal_out(const json_t *doc, const char *name);

/* Runs check ID on the world; returns its verdict. */
enum comp_verdict world_run(struct world *w, const char *id);

#endif
