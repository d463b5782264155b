/* Conformance suite of the state store interface (controlplane/store.h),
 * written against the interface only, so every backend runs the same
 * tests: a backend's test program supplies a factory and calls
 * store_conformance_run(). */
#ifndef BW_TEST_STORE_CONFORMANCE_H
#define BW_TEST_STORE_CONFORMANCE_H

struct store;

struct store_test_factory {
	const char	*name;
	/* Opens the store kept in DIR into *ret: DIR is a fresh empty
	 * directory for a new store, or the directory of a store closed
	 * earlier in the same test (reopen). Returns 0 or < 0. */
	int		(*open)(void *ctx, const char *dir, struct store **ret);
	void		*ctx;
};

/* Runs every conformance test against stores made by FACTORY, one fresh
 * store per test. Returns the number of failed tests (cmocka). */
int store_conformance_run(const struct store_test_factory *factory);

#endif
