/* Shared helpers for the libFuzzer targets in tests/fuzz/. Each target
 * states its invariants with FUZZ_CHECK: a broken invariant aborts, and
 * libFuzzer saves the input that broke it as a reproducer. */
#ifndef BW_FUZZ_H
#define BW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant broken: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* Returns the input up to its first NUL as an allocated string of
 * exactly that length plus the NUL, so ASan sees any read past the end.
 * Aborts on allocation failure: a fuzz run cannot go on without memory. */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
	const uint8_t	*nul = memchr(data, '\0', size);
	size_t		 n = nul ? (size_t)(nul - data) : size;
	char		*s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

#endif
