/* NIST SP 800-53 OSCAL catalog and baselines (resolved profile catalogs):
 * loading, validation and lookup of controls by id, title and family. */
#ifndef BW_COMPLIANCE_CATALOG_H
#define BW_COMPLIANCE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

/* Upper bounds on what a catalog file may make us allocate. */
#define COMP_CATALOG_MAX_BYTES	(16u << 20)
#define COMP_CATALOG_MAX_CONTROLS 5000
#define COMP_CATALOG_MAX_DEPTH	40

/* Relative names of the data files under the data directory. */
#define COMP_CATALOG_FILE	"catalogs/NIST_SP-800-53_rev5_catalog-min.json"
#define COMP_BASELINE_LOW	"catalogs/FedRAMP_rev5_LOW-baseline-resolved-profile_catalog-min.json"
#define COMP_BASELINE_MODERATE	"catalogs/FedRAMP_rev5_MODERATE-baseline-resolved-profile_catalog-min.json"
#define COMP_BASELINE_HIGH	"catalogs/FedRAMP_rev5_HIGH-baseline-resolved-profile_catalog-min.json"

struct comp_control {
	char	*id;		/* "ac-2", "ac-2.4" */
	char	*label;		/* "AC-2(4)" when the catalog gives one */
	char	*title;
	char	*family;	/* group id: "ac" */
	char	*parent;	/* enhancement's base control id, or NULL */
	bool	 withdrawn;
	bool	 has_statement;	/* a part "<id>_smt" exists */
};

struct comp_family {
	char	*id;		/* "ac" */
	char	*title;		/* "Access Control" */
	size_t	 first;		/* index of its first control (document order) */
	size_t	 count;
};

struct comp_catalog;

/* Returns the data directory: $BULWARK_COMPLIANCE_DATA when set and
 * non-empty, else BW_DATADIR "/compliance/data". Static storage. */
const char *comp_data_dir(void);

/* Parses LEN bytes of an OSCAL catalog document (a catalog or a resolved
 * profile catalog). On success *ret_cat is set (free with
 * comp_catalog_free()). Returns 0, -BW_E_INVALID with a precise
 * *ret_err ("catalog.groups[3].controls[1].id: ..."), -BW_E_TOOLARGE
 * or -ENOMEM. */
int comp_catalog_parse(const char *buf, size_t len,
    struct comp_catalog **ret_cat, char **ret_err);

/* Reads PATH (at most COMP_CATALOG_MAX_BYTES) and parses it like
 * comp_catalog_parse(). Errors name the file. */
int comp_catalog_load(const char *path, struct comp_catalog **ret_cat,
    char **ret_err);

void comp_catalog_free(struct comp_catalog *cat);

const char *comp_catalog_title(const struct comp_catalog *cat);
const char *comp_catalog_version(const struct comp_catalog *cat);
const char *comp_catalog_oscal_version(const struct comp_catalog *cat);
const char *comp_catalog_uuid(const struct comp_catalog *cat);

/* Number of controls (base controls and enhancements, withdrawn ones
 * included) and the I-th one in document order. */
size_t comp_catalog_count(const struct comp_catalog *cat);
const struct comp_control *comp_catalog_at(const struct comp_catalog *cat,
    size_t i);

/* Finds a control by id, case-insensitively ("AC-2", "ac-2.4").
 * Returns NULL when absent. O(log n). */
const struct comp_control *comp_catalog_find(const struct comp_catalog *cat,
    const char *id);

/* Finds the first control whose title equals TITLE (case-insensitive).
 * Returns NULL when absent. */
const struct comp_control *comp_catalog_find_title(
    const struct comp_catalog *cat, const char *title);

/* Number of families and the I-th one; lookup by id ("ac"). */
size_t comp_catalog_family_count(const struct comp_catalog *cat);
const struct comp_family *comp_catalog_family_at(
    const struct comp_catalog *cat, size_t i);
const struct comp_family *comp_catalog_family(const struct comp_catalog *cat,
    const char *id);

/* A baseline: the controls a resolved profile catalog selects, each
 * checked against the full catalog. */
struct comp_baseline;

/* Parses the resolved profile catalog BUF and validates that every
 * control it lists exists in CAT and is not withdrawn there. *ret_base
 * keeps no pointer into BUF but points into CAT, which must outlive it.
 * Returns 0 or -BW_E_INVALID with *ret_err naming the first bad id. */
int comp_baseline_parse(const char *buf, size_t len,
    const struct comp_catalog *cat, struct comp_baseline **ret_base,
    char **ret_err);

/* Reads PATH and parses it like comp_baseline_parse(). */
int comp_baseline_load(const char *path, const struct comp_catalog *cat,
    struct comp_baseline **ret_base, char **ret_err);

void comp_baseline_free(struct comp_baseline *base);

const char *comp_baseline_title(const struct comp_baseline *base);
size_t comp_baseline_count(const struct comp_baseline *base);

/* The I-th control of the baseline (document order); points into the
 * full catalog. */
const struct comp_control *comp_baseline_at(const struct comp_baseline *base,
    size_t i);

/* Whether the baseline selects control ID (case-insensitive). */
bool comp_baseline_contains(const struct comp_baseline *base, const char *id);

#endif
