/* One option table per program: getopt_long's table and the options part
 * of its --help are both made from it, so --help (and the man page test,
 * tests/integration/man-pages.sh, which reads --help) lists every option
 * the program accepts. Header-only: each main() includes it once. */
#ifndef BW_OPT_HELP_H
#define BW_OPT_HELP_H

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct opt_help {
	const char	*name;		/* long name, without "--" */
	int		 val;		/* what getopt_long returns for it */
	const char	*arg;		/* value's name; NULL: takes no value */
	const char	*help;		/* wrapped by opt_help_print() */
};

#define OPT_HELP_COL	21
#define OPT_HELP_WIDTH	78

/* Fills LONGOPTS, which has room for N + 1 entries, from TABLE. */
static inline void
opt_help_longopts(const struct opt_help *table, size_t n,
    struct option *longopts)
{
	size_t i;

	for (i = 0; i < n; i++)
		longopts[i] = (struct option){ table[i].name, table[i].arg ?
		    required_argument : no_argument, NULL, table[i].val };
	longopts[n] = (struct option){ 0 };
}

/* Writes one line per option of TABLE, "  --name ARG  help", the help
 * wrapped at OPT_HELP_WIDTH columns. */
static inline void
opt_help_print(FILE *f, const struct opt_help *table, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char	*t = table[i].help;
		int		 col;

		col = fprintf(f, "  --%s%s%s", table[i].name, table[i].arg ?
		    " " : "", table[i].arg ? table[i].arg : "");
		if (col >= OPT_HELP_COL - 1) {
			fputc('\n', f);
			col = 0;
		}
		fprintf(f, "%*s", OPT_HELP_COL - col, "");
		col = OPT_HELP_COL;
		while (*t) {
			size_t w = strcspn(t, " ");

			if (col > OPT_HELP_COL && col + 1 + (int)w > OPT_HELP_WIDTH) {
				fprintf(f, "\n%*s", OPT_HELP_COL, "");
				col = OPT_HELP_COL;
			} else if (col > OPT_HELP_COL) {
				fputc(' ', f);
				col++;
			}
			fwrite(t, 1, w, f);
			col += (int)w;
			t += w;
			while (*t == ' ')
				t++;
		}
		fputc('\n', f);
	}
}

/* Parses ARG, the value of option --NAME of program PROG, as a decimal
 * integer in MIN..MAX into *RET. Otherwise says so on standard error
 * ("PROG: --NAME: must be MIN..MAX") and returns -EINVAL. */
static inline int
opt_help_uint(const char *prog, const char *name, const char *arg,
    unsigned long min, unsigned long max, unsigned long *ret)
{
	unsigned long	 v;
	char		*end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max) {
		fprintf(stderr, "%s: --%s: must be %lu..%lu\n", prog, name, min,
		    max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

#endif
