/* ssp-gen: writes the appliance's OSCAL SSP and its Markdown rendering
 * (make ssp). Usage: ssp-gen -d DATA_DIR -n NARRATIVES_DIR -o SSP.json
 * -m SSP.md. Exit 0 on success, 1 on any error (printed). */
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
#include "compliance/ssp.h"

static int
write_text(const char *path, const char *text)
{
	return write_file_atomic_at(AT_FDCWD, path, text, strlen(text), 0644);
}

int
main(int argc, char **argv)
{
	const char		*data = NULL, *narr = NULL, *out = NULL, *mdout = NULL;
	struct comp_catalog	*cat = NULL;
	struct comp_baseline	*base = NULL;
	struct comp_ssp_text	*t = NULL;
	struct comp_ssp_stats	 st;
	json_t			*ssp = NULL;
	char			*md = NULL, *err = NULL, *path = NULL;
	int			 c, r, rc = 1;

	while ((c = getopt(argc, argv, "d:n:o:m:")) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'n': narr = optarg; break;
		case 'o': out = optarg; break;
		case 'm': mdout = optarg; break;
		default: goto usage;
		}
	}
	if (!data || !narr || !out || !mdout || optind != argc) {
usage:
		fprintf(stderr, "usage: ssp-gen -d DATA_DIR -n NARRATIVES_DIR "
		    "-o SSP.json -m SSP.md\n");
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
	    (r = comp_ssp_build(cat, base, t, &ssp, &md, &st, &err)) < 0)
		goto fail;
	if ((r = comp_oscal_write(ssp, AT_FDCWD, out, 0644)) < 0) {
		fprintf(stderr, "ssp-gen: %s: %s\n", out, bw_strerror(r));
		goto out;
	}
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
	comp_ssp_text_free(t);
	comp_baseline_free(base);
	comp_catalog_free(cat);
	return rc;
}
