/* ssp-gen: writes the appliance's OSCAL component definition, the SSP
 * assembled from it with its Markdown rendering, and the assessment plan
 * of the automated assessment (make ssp). Usage: ssp-gen -d DATA_DIR
 * -n NARRATIVES_DIR -c CD.json -o SSP.json -m SSP.md -a AP.json.
 * Exit 0 on success, 1 on any error (printed). */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "compliance/catalog.h"
#include "compliance/oscal.h"
#include "compliance/oscal-plan.h"
#include "compliance/ssp.h"

static int
write_text(const char *path, const char *text)
{
	return write_file_atomic_at(AT_FDCWD, path, text, strlen(text), 0644);
}

/* Writes DOC to PATH; prints why not. */
static int
write_doc(const json_t *doc, const char *path)
{
	int r = comp_oscal_write(doc, AT_FDCWD, path, 0644);

	if (r < 0)
		fprintf(stderr, "ssp-gen: %s: %s\n", path, bw_strerror(r));
	return r;
}

/* The assessment plan of BASE, dated like the SSP, to PATH. */
static int
write_plan(const struct comp_baseline *base, const json_t *ssp,
    const char *path)
{
	_cleanup_json_ json_t *ap = NULL;
	struct comp_ap_opts o = { .last_modified = json_str_at(
	    json_object_get(ssp, "system-security-plan"), "metadata",
	    "last-modified") };
	int r;

	if ((r = comp_ap_build(base, &o, &ap)) < 0) {
		fprintf(stderr, "ssp-gen: assessment plan: %s\n", bw_strerror(r));
		return r;
	}
	return write_doc(ap, path);
}

int
main(int argc, char **argv)
{
	const char		*data = NULL, *narr = NULL, *out = NULL, *mdout = NULL;
	const char		*cdout = NULL, *apout = NULL;
	struct comp_catalog	*cat = NULL;
	struct comp_baseline	*base = NULL;
	struct comp_ssp_text	*t = NULL;
	struct comp_ssp_stats	 st;
	json_t			*ssp = NULL, *cd = NULL;
	char			*md = NULL, *err = NULL, *path = NULL;
	int			 c, r, rc = 1;

	while ((c = getopt(argc, argv, "d:n:o:m:c:a:")) != -1) {
		switch (c) {
		case 'c': cdout = optarg; break;
		case 'a': apout = optarg; break;
		case 'd': data = optarg; break;
		case 'n': narr = optarg; break;
		case 'o': out = optarg; break;
		case 'm': mdout = optarg; break;
		default: goto usage;
		}
	}
	if (!data || !narr || !out || !mdout || !cdout || !apout ||
	    optind != argc) {
usage:
		fprintf(stderr, "usage: ssp-gen -d DATA_DIR -n NARRATIVES_DIR "
		    "-c CD.json -o SSP.json -m SSP.md -a AP.json\n");
		return 2;
	}
	if (asprintf(&path, "%s/%s", data, COMP_CATALOG_FILE) < 0)
		goto out;
	if ((r = comp_catalog_load(path, &cat, &err)) < 0)
		goto fail;
	free(path);
	if (asprintf(&path, "%s/%s", data, COMP_BASELINE_MODERATE) < 0) {
		path = NULL;
		goto out;
	}
	if ((r = comp_baseline_load(path, cat, &base, &err)) < 0 ||
	    (r = comp_ssp_text_load(narr, &t, &err)) < 0 ||
	    (r = comp_ssp_component_definition(cat, base, t, &cd, &err)) < 0 ||
	    (r = comp_ssp_build(cat, base, t, cd, &ssp, &md, &st, &err)) < 0)
		goto fail;
	if (write_doc(cd, cdout) < 0 || write_doc(ssp, out) < 0 ||
	    write_plan(base, ssp, apout) < 0)
		goto out;
	if ((r = write_text(mdout, md)) < 0) {
		fprintf(stderr, "ssp-gen: %s: %s\n", mdout, bw_strerror(r));
		goto out;
	}
	printf("ssp-gen: %zu controls (%zu own narratives, %zu automated); "
	    "implemented %zu, partial %zu, planned %zu, alternative %zu, "
	    "not-applicable %zu\n", st.controls, st.specific, st.automated,
	    st.by_state[0], st.by_state[1], st.by_state[2], st.by_state[3],
	    st.by_state[4]);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "ssp-gen: %s\n", err ? err : bw_strerror(r));
out:
	free(path);
	free(err);
	free(md);
	json_decref(ssp);
	json_decref(cd);
	comp_ssp_text_free(t);
	comp_baseline_free(base);
	comp_catalog_free(cat);
	return rc;
}
