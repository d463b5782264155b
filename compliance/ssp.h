/* The appliance's OSCAL 1.1 System Security Plan, generated from the
 * catalog, a baseline, the check registry and narrative text files
 * (docs/ssp/narratives/ *.md). Output is deterministic (name-based
 * UUIDs, dates from the narratives) so the committed SSP only changes
 * when its sources do. */
#ifndef BW_COMPLIANCE_SSP_H
#define BW_COMPLIANCE_SSP_H

#include <stddef.h>

#include <jansson.h>

#include "lib/macro.h"

#include "compliance/catalog.h"

/* Bounds on the narrative sources (authored by us, but still parsed
 * with limits). */
#define COMP_SSP_FILE_MAX	(1u << 20)
#define COMP_SSP_FILES_MAX	64
#define COMP_SSP_SECTIONS_MAX	4096

/* File name of the generated SSP, in docs/ssp/ and in evidence bundles. */
#define COMP_SSP_JSON_NAME	"bulwark-ssp.json"
/* File name of the component definition the SSP is assembled from, next
 * to it. */
#define COMP_CD_JSON_NAME	"bulwark-component-definition.json"

/* Parsed narratives: sections "# id" (level 1) and "## id" (level 2),
 * each with "key: value" attributes right after its heading, then text. */
struct comp_ssp_text;

/* Parses every "*.md" file of DIR (sorted by name) into *ret (free with
 * comp_ssp_text_free()). Returns 0, -errno, -BW_E_TOOLARGE, or
 * -BW_E_INVALID with *ret_err naming the file and line. */
int comp_ssp_text_load(const char *dir, struct comp_ssp_text **ret,
    char **ret_err);

/* Adds the sections of one file NAME (LEN bytes of BUF) to T, which
 * comp_ssp_text_new() made. Same returns as comp_ssp_text_load(). */
struct comp_ssp_text *comp_ssp_text_new(void);
int comp_ssp_text_parse(struct comp_ssp_text *t, const char *name,
    const char *buf, size_t len, char **ret_err);
void comp_ssp_text_free(struct comp_ssp_text *t);

struct comp_ssp_stats {
	size_t	controls;	/* implemented requirements written */
	size_t	specific;	/* with their own narrative */
	size_t	automated;	/* covered by at least one registered check */
	size_t	by_state[5];	/* implemented, partial, planned, alternative, n/a */
};

/* Builds the OSCAL component definition of the appliance for BASE
 * (controls in CAT) from the narratives T and the check registry into
 * *ret_cd (caller owns): one defined component per "## component ID"
 * section, and for every control of BASE an implemented requirement
 * with a non-empty statement (its own narrative, else its family's,
 * plus the checks that verify it) under its first component, with
 * props responsibility, automated, narrative-source,
 * implementation-status and check-id. Fails with -BW_E_INVALID (and
 * *ret_err) when a narrative names a control outside BASE or CAT, a
 * family has no narrative, an attribute value is unknown, or a
 * component is undefined. */
int comp_ssp_component_definition(const struct comp_catalog *cat,
    const struct comp_baseline *base, const struct comp_ssp_text *t,
    json_t **ret_cd, char **ret_err);

/* Assembles the SSP for BASE from the component definition CD (as
 * comp_ssp_component_definition() builds it) and the system section of
 * the narratives T: *ret_ssp (an OSCAL system-security-plan document
 * whose components and by-components carry CD's component UUIDs) and
 * *ret_md (a Markdown rendering grouped by family), both owned by the
 * caller. Fails with -BW_E_INVALID (and *ret_err) when a control of
 * BASE has no requirement in CD or the system section is incomplete.
 * RET_STATS may be NULL. */
int comp_ssp_build(const struct comp_catalog *cat,
    const struct comp_baseline *base, const struct comp_ssp_text *t,
    const json_t *cd, json_t **ret_ssp, char **ret_md,
    struct comp_ssp_stats *ret_stats, char **ret_err);

/* Writes a name-based UUID (SHA-256 of NAME, version 5 layout) into OUT:
 * the same NAME always gives the same UUID. Returns 0 or -BW_E_CRYPTO. */
int comp_ssp_uuid(const char *name, char out[37]);

/* comp_ssp_uuid() of the printf-formatted name. Returns 0, -ENOMEM or
 * -BW_E_CRYPTO. */
int comp_ssp_uuidf(char out[37], const char *fmt, ...) _printf_(2, 3);

#endif
