/* Temporary directories for the hardening unit tests. */
#ifndef BW_TEST_TMPDIR_H
#define BW_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Returns a new empty directory (caller frees with tmpdir_remove()),
 * or NULL. */
static inline char *
tmpdir_make(void)
{
	const char	*base = getenv("TMPDIR");
	char		*d;
	size_t		 len;

	/* mkdtemp() replaces the last six characters of the template. */
	if (asprintf(&d, "%s/bw-pki-......", base && *base ? base : "/tmp") <
	    0)
		return NULL;
	len = strlen(d);
	memset(d + len - 6, 'X', 6);
	if (!mkdtemp(d)) {
		free(d);
		return NULL;
	}
	return d;
}

static inline int
tmpdir_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void
tmpdir_remove(char *d)
{
	if (!d)
		return;
	nftw(d, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

#endif
