#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include "lib/b64.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/opt-help.h"
#include "lib/ossl-cleanup.h"
#include "lib/runtime-exec.h"

static void
test_json_ok(void **state)
{
	json_t	*v = NULL;
	char	*err = NULL;
	const char *doc = "{\"a\": [1, 2, {\"b\": \"x]\"}]}";

	assert_int_equal(json_parse_bounded(doc, strlen(doc), 4, &v, &err), 0);
	assert_non_null(v);
	assert_null(err);
	json_decref(v);
}

static void
test_json_depth(void **state)
{
	char	 buf[20001];
	json_t	*v = NULL;
	char	*err = NULL;

	memset(buf, '[', 10000);
	memset(buf + 10000, ']', 10000);
	buf[20000] = 0;
	assert_int_equal(json_parse_bounded(buf, 20000, 32, &v, &err),
	    -BW_E_INVALID);
	assert_null(v);
	assert_non_null(strstr(err, "deeper than 32"));
	free(err);
}

static void
test_json_brackets_in_strings_do_not_count(void **state)
{
	const char *doc = "{\"a\": \"[[[[[[[[[[[[\"}";
	json_t	*v = NULL;
	char	*err = NULL;

	assert_int_equal(json_parse_bounded(doc, strlen(doc), 2, &v, &err), 0);
	json_decref(v);
}

static void
test_json_bad_utf8_dup(void **state)
{
	const char bad[] = "{\"a\": \"\xff\xfe\"}";
	const char *dup = "{\"a\": 1, \"a\": 2}";
	json_t	*v = NULL;
	char	*err = NULL;

	assert_int_equal(json_parse_bounded(bad, sizeof(bad) - 1, 8, &v, &err),
	    -BW_E_INVALID);
	assert_non_null(strstr(err, "byte"));
	free(err);
	err = NULL;
	assert_int_equal(json_parse_bounded(dup, strlen(dup), 8, &v, &err),
	    -BW_E_INVALID);
	assert_non_null(strstr(err, "duplicate"));
	free(err);
}

static int
cmp_uuid(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Version 4 layout, lower-case hex, and no repeats across several
 * refills of the per-thread random pool. */
static void
test_uuid_v4(void **state)
{
	enum { N = 1000 };
	char (*u)[BW_UUID_LEN + 1] = calloc(N, sizeof(*u));

	(void)state;
	assert_non_null(u);
	for (int i = 0; i < N; i++) {
		assert_int_equal(bw_uuid_v4(u[i]), 0);
		assert_int_equal(strlen(u[i]), BW_UUID_LEN);
		for (int j = 0; j < BW_UUID_LEN; j++) {
			if (j == 8 || j == 13 || j == 18 || j == 23)
				assert_int_equal(u[i][j], '-');
			else
				assert_non_null(strchr("0123456789abcdef", u[i][j]));
		}
		assert_int_equal(u[i][14], '4');
		assert_non_null(strchr("89ab", u[i][19]));
	}
	qsort(u, N, sizeof(*u), cmp_uuid);
	for (int i = 1; i < N; i++)
		assert_int_not_equal(strcmp(u[i - 1], u[i]), 0);
	free(u);
}

static void
test_errcode(void **state)
{
	assert_string_equal(bw_errcode(-BW_E_CONFLICT), "conflict");
	assert_string_equal(bw_errcode(-BW_E_AUDIT), "audit_unavailable");
	assert_string_equal(bw_errcode(-ENOENT), "internal");
}

/* Stands in for a callee three levels down: it reports the line. */
static int
load_catalog_line(int line, const char *id, char **ret_err)
{
	return errf(-BW_E_INVALID, ret_err, "catalog line %d: unknown control "
	    "%s", line, id);
}

static int
load_profile(const char *name, char **ret_err)
{
	int r;

	if ((r = load_catalog_line(12, "ac-99", ret_err)) < 0)
		return errf_wrap(r, ret_err, "loading profile %s", name);
	return 0;
}

static void
test_errf_wrap(void **state)
{
	char	*err = NULL;

	/* Context goes in front; the callee's words and code survive. */
	assert_int_equal(load_profile("moderate", &err), -BW_E_INVALID);
	assert_string_equal(err, "loading profile moderate: catalog line 12: "
	    "unknown control ac-99");
	assert_int_equal(errf_wrap(-BW_E_INVALID, &err, "scan %d", 3),
	    -BW_E_INVALID);
	assert_string_equal(err, "scan 3: loading profile moderate: catalog "
	    "line 12: unknown control ac-99");
	free(err);

	/* A callee that left no message: the code's text stands in. */
	err = NULL;
	assert_int_equal(errf_wrap(-ENOENT, &err, "opening %s", "x.json"),
	    -ENOENT);
	assert_string_equal(err, "opening x.json: No such file or directory");
	free(err);
	err = NULL;
	assert_int_equal(errf_wrap(-BW_E_QUOTA, &err, "tenant a"), -BW_E_QUOTA);
	assert_string_equal(err, "tenant a: quota exceeded");
	free(err);

	/* No message wanted: the code passes through untouched. */
	assert_int_equal(load_profile("moderate", NULL), -BW_E_INVALID);
	assert_int_equal(errf_wrap(-EIO, NULL, "x"), -EIO);

	/* errf replaces, errf_wrap adds. */
	err = NULL;
	errf(-BW_E_INVALID, &err, "first");
	errf(-BW_E_INVALID, &err, "second");
	assert_string_equal(err, "second");
	free(err);
}

/* A deadline from bw_mono_deadline() on a bw_cond_init_mono() cv is
 * honoured: on a CLOCK_REALTIME cv the same numbers name an instant in
 * 1970 and the wait would end at once. Only a lower bound is checked,
 * so a busy machine cannot fail it. */
static void
test_opt_help_uint(void **state)
{
	unsigned long v = 7;

	(void)state;
	assert_int_equal(opt_help_uint("t", "n", "0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(opt_help_uint("t", "n", "10", 1, 10, &v), 0);
	assert_int_equal(v, 10);
	/* out of range, junk, empty and overflow leave *RET alone */
	v = 7;
	assert_int_equal(opt_help_uint("t", "n", "11", 1, 10, &v), -EINVAL);
	assert_int_equal(opt_help_uint("t", "n", "0", 1, 10, &v), -EINVAL);
	assert_int_equal(opt_help_uint("t", "n", "5x", 1, 10, &v), -EINVAL);
	assert_int_equal(opt_help_uint("t", "n", "", 1, 10, &v), -EINVAL);
	assert_int_equal(opt_help_uint("t", "n", "99999999999999999999999", 0,
	    ~0ul, &v), -EINVAL);
	assert_int_equal(v, 7);
}

static void
test_cond_mono(void **state)
{
	pthread_mutex_t	mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t	cv;
	struct timespec	dl;
	uint64_t	t0;
	int		r;

	assert_int_equal(bw_cond_init_mono(&cv), 0);
	pthread_mutex_lock(&mu);
	t0 = bw_mono_ns();
	dl = bw_mono_deadline(200 * 1000000ull);
	do
		r = pthread_cond_timedwait(&cv, &mu, &dl);
	while (r == 0);
	assert_int_equal(r, ETIMEDOUT);
	assert_true(bw_mono_ns() - t0 >= 200 * 1000000ull);
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&cv);
}

/* runtime_exec() gives the helper the umask asked for, else the
 * caller's (the image store's tar relies on it: docs/hardening.md). */
static void
test_exec_umask(void **state)
{
	const char *const	 argv[] = { "/bin/sh", "-c", "umask", NULL };
	struct runtime_exec_opts o = { .stdout_fd = -1, .set_umask = true,
	    .umask = 0 };
	char			*out = NULL;
	mode_t			 old = umask(077);

	assert_int_equal(runtime_run(argv, &o, &out, NULL), 0);
	assert_string_equal(out, "0000\n");
	free(out);
	out = NULL;
	o.set_umask = false;
	assert_int_equal(runtime_run(argv, &o, &out, NULL), 0);
	assert_string_equal(out, "0077\n");
	free(out);
	umask(old);
}

static void
test_json_at(void **state)
{
	json_t *o = json_pack("{s:s, s:i, s:{s:s, s:I, s:s}}", "a", "x", "n", 7,
	    "m", "name", "y", "rev", (json_int_t)9, "s", "not an int");

	assert_non_null(o);
	assert_string_equal(json_str_at(o, "a", NULL), "x");
	assert_string_equal(json_str_at(o, "m", "name"), "y");
	assert_null(json_str_at(o, "n", NULL));
	assert_null(json_str_at(o, "m", "absent"));
	assert_null(json_str_at(o, "absent", "name"));
	assert_null(json_str_at(NULL, "a", NULL));
	assert_int_equal(json_int_at(o, "n", NULL, -1), 7);
	assert_int_equal(json_int_at(o, "m", "rev", -1), 9);
	assert_int_equal(json_int_at(o, "m", "s", -1), -1);
	assert_int_equal(json_int_at(o, "absent", "rev", 42), 42);
	json_decref(o);
}

static void
test_json_array_find(void **state)
{
	json_t *a = json_pack("[{s:i}, {s:s, s:i}, {s:s, s:i}, s]", "name", 1,
	    "name", "x", "v", 2, "name", "x", "v", 3, "x");

	(void)state;
	assert_non_null(a);
	assert_int_equal(json_int_at(json_array_find(a, "name", "x"), "v", NULL,
	    -1), 2);	/* the first */
	assert_null(json_array_find(a, "name", "y"));
	assert_null(json_array_find(a, "other", "x"));
	assert_null(json_array_find(json_object_get(a, "no"), "name", "x"));
	json_decref(a);
}

/* bw_time_rfc3339_at() formats the time it is given, 0 included;
 * bw_time_rfc3339() takes 0 for now. */
static void
test_time_rfc3339(void **state)
{
	char buf[BW_TIME_LEN + 1];

	bw_time_rfc3339_at(buf, sizeof(buf), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	bw_time_rfc3339_at(buf, sizeof(buf), 1764000000);
	assert_string_equal(buf, "2025-11-24T16:00:00Z");
	bw_time_rfc3339(buf, sizeof(buf), 1764000000);
	assert_string_equal(buf, "2025-11-24T16:00:00Z");
	{
		struct timespec	ts = { .tv_sec = 1764000000, .tv_nsec = 7999999 };
		char		ms[BW_TIME_LEN + 5];

		bw_time_rfc3339_ms(ms, sizeof(ms), &ts);
		assert_string_equal(ms, "2025-11-24T16:00:00.007Z");
	}
	bw_time_rfc3339(buf, sizeof(buf), 0);
	assert_int_equal(strlen(buf), BW_TIME_LEN);
	assert_string_not_equal(buf, "1970-01-01T00:00:00Z");
}

static void
test_uuid_format(void **state)
{
	const unsigned char	b[16] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
	    0xcd, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0xff };
	char			buf[BW_UUID_LEN + 1];

	bw_uuid_format(b, buf);
	assert_string_equal(buf, "01234567-89ab-cdef-0011-2233445566ff");
}

/* The clock's units agree with each other. */
static void
test_mono_units(void **state)
{
	uint64_t	ns = bw_mono_ns();
	int64_t		ms = bw_mono_ms();
	double		s = bw_mono_s();

	assert_true(ms >= (int64_t)(ns / 1000000u));
	assert_true(s * 1e9 >= (double)ns);
	assert_true(s * 1e3 < (double)ms + 1000.0);
}

/* The OpenSSL cleanup functions free what they hold and accept NULL. */
static void
test_ossl_cleanup(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*none = NULL;
	_cleanup_(BIO_freep) BIO		*bio = BIO_new(BIO_s_mem());
	_cleanup_(X509_freep) X509		*x = X509_new();

	assert_null(none);
	assert_non_null(bio);
	assert_non_null(x);
}

/* hex_decode takes either case from a C string; hex_decode_span reads a
 * slice and, for canonical formats, only lowercase. */
static void
test_hex_decode(void **state)
{
	unsigned char	 b[2];
	char		 hex[5];

	(void)state;
	assert_int_equal(hex_decode("0aFf", b, 2), 0);
	assert_int_equal(b[0], 0x0a);
	assert_int_equal(b[1], 0xff);
	assert_string_equal(hex_encode(b, 2, hex), "0aff");
	assert_int_equal(hex_decode("0aff0", b, 2), -BW_E_INVALID);
	assert_int_equal(hex_decode("0g", b, 1), -BW_E_INVALID);
	assert_int_equal(hex_decode(NULL, b, 1), -BW_E_INVALID);
	/* a slice: what follows it is not read */
	assert_int_equal(hex_decode_span("0aff=x", 4, b, 2, true), 0);
	assert_int_equal(b[1], 0xff);
	assert_int_equal(hex_decode_span("0aFF", 4, b, 2, true), -BW_E_INVALID);
	assert_int_equal(hex_decode_span("0aFF", 4, b, 2, false), 0);
	assert_int_equal(hex_decode_span("0af", 3, b, 2, false), -BW_E_INVALID);
}

/* bw_time_parse reads what the formatters write, and dates alone. */
static void
test_time_parse(void **state)
{
	time_t	t = 1;
	char	buf[64];

	(void)state;
	assert_int_equal(bw_time_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	bw_time_rfc3339_at(buf, sizeof(buf), 1796400000);
	assert_int_equal(bw_time_parse(buf, &t), 0);
	assert_int_equal(t, 1796400000);
	assert_int_equal(bw_time_parse("2026-12-06", &t), 0);
	assert_int_equal(t % 86400, 0);
	assert_int_equal(bw_time_parse("2026-12-06T10:00:00.123Z", &t), 0);
	assert_int_equal(bw_time_parse("2026-12-06T10:00:00", &t), 0);
	assert_int_equal(bw_time_parse("2026-12-06T10:00:00+01:00", &t),
	    -BW_E_INVALID);
	assert_int_equal(bw_time_parse("2026-12-06T10:00", &t), -BW_E_INVALID);
	assert_int_equal(bw_time_parse("2026-12-06Zx", &t), -BW_E_INVALID);
	assert_int_equal(bw_time_parse("yesterday", &t), -BW_E_INVALID);
	assert_int_equal(bw_time_parse(NULL, &t), -BW_E_INVALID);
}

/* open_regular_at and read_regular_at open regular files only, and a
 * FIFO without a writer is refused at once rather than waited on. */
static void
test_open_regular(void **state)
{
	char	dir[] = "/tmp/bw-lib-XXXXXX", path[64];
	int	dfd, fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0);
	assert_true((fd = openat(dfd, "file", O_WRONLY | O_CREAT, 0600)) >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	assert_int_equal(mkfifoat(dfd, "fifo", 0600), 0);
	assert_int_equal(symlinkat("file", dfd, "link"), 0);

	assert_true((fd = open_regular_at(dfd, "file")) >= 0);
	assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	close(fd);
	assert_int_equal(open_regular_at(dfd, "fifo"), -BW_E_INVALID);
	assert_int_equal(open_regular_at(dfd, "."), -BW_E_INVALID);
	assert_int_equal(open_regular_at(dfd, "link"), -ELOOP);
	assert_int_equal(open_regular_at(dfd, "none"), -ENOENT);
	/* fd_regular() makes an O_NONBLOCK regular file blocking again */
	assert_true((fd = openat(dfd, "file", O_RDONLY | O_NONBLOCK)) >= 0);
	assert_int_equal(fd_regular(fd), 0);
	assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	close(fd);
	assert_true((fd = openat(dfd, "fifo", O_RDONLY | O_NONBLOCK)) >= 0);
	assert_int_equal(fd_regular(fd), -BW_E_INVALID);
	close(fd);

	/* read_regular_at: the same refusals, a size bound checked before
	 * reading, and with FILEIO_ROOT_OWNED only root's file that no one
	 * else may write */
	{
		char	*buf = NULL;
		size_t	 len;

		assert_int_equal(read_regular_at(dfd, "file", 1, 0, &buf,
		    &len), 0);
		assert_int_equal(len, 1);
		assert_memory_equal(buf, "x", 1);
		free(buf);
		assert_int_equal(read_regular_at(dfd, "file", 0, 0, &buf,
		    &len), -EFBIG);
		assert_int_equal(read_regular_at(dfd, "fifo", 64, 0, &buf,
		    &len), -BW_E_INVALID);
		assert_int_equal(read_regular_at(dfd, "link", 64, 0, &buf,
		    &len), -ELOOP);
		assert_int_equal(fchmodat(dfd, "file", 0602, 0), 0);
		assert_int_equal(read_regular_at(dfd, "file", 64,
		    FILEIO_ROOT_OWNED, &buf, &len), -EPERM);
		assert_int_equal(fchmodat(dfd, "file", 0620, 0), 0);
		assert_int_equal(read_regular_at(dfd, "file", 64,
		    FILEIO_ROOT_OWNED, &buf, &len), -EPERM);
		assert_int_equal(fchmodat(dfd, "file", 0644, 0), 0);
		assert_int_equal(read_regular_at(dfd, "file", 64,
		    FILEIO_ROOT_OWNED, &buf, &len), geteuid() == 0 ? 0 : -EPERM);
		if (geteuid() == 0) {
			free(buf);
			assert_int_equal(fchownat(dfd, "file", 1, 0, 0), 0);
			assert_int_equal(read_regular_at(dfd, "file", 64,
			    FILEIO_ROOT_OWNED, &buf, &len), -EPERM);
		}
	}

	unlinkat(dfd, "file", 0);
	unlinkat(dfd, "fifo", 0);
	unlinkat(dfd, "link", 0);
	close(dfd);
	snprintf(path, sizeof(path), "%s", dir);
	assert_int_equal(rmdir(path), 0);
}

struct atomic_writer {
	int	dfd;
	char	fill;
	int	r;
};

static void *
atomic_writer_run(void *arg)
{
	struct atomic_writer	*w = arg;
	static char		 bufs[2][65536];
	char			*buf = bufs[w->fill == 'b'];

	memset(buf, w->fill, sizeof(bufs[0]));
	for (int i = 0; i < 100 && w->r == 0; i++)
		w->r = write_file_atomic_at(w->dfd, "out", buf, sizeof(bufs[0]),
		    0600);
	return NULL;
}

/* Two writers of one file in one process each get their own temporary
 * file: the result is always one writer's whole content, no temporary
 * file is left, and a file that merely looks like a temporary one is not
 * touched. */
static void
test_write_atomic_concurrent(void **state)
{
	char			 dir[] = "/tmp/bw-lib-XXXXXX", *data = NULL;
	struct atomic_writer	 w[2];
	pthread_t		 t[2];
	size_t			 len;
	struct stat		 st;
	DIR			*d;
	struct dirent		*e;
	int			 dfd, names = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0);
	assert_int_equal(write_file_atomic_at(dfd, "out.tmp.1", "keep", 4, 0644), 0);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct atomic_writer){ .dfd = dfd, .fill = "ab"[i] };
		assert_int_equal(pthread_create(&t[i], NULL, atomic_writer_run,
		    &w[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].r, 0);
	}
	assert_int_equal(read_file_at(dfd, "out", 1 << 20, &data, &len), 0);
	assert_int_equal(len, 65536);
	for (size_t i = 1; i < len; i++)
		assert_int_equal(data[i], data[0]);
	free(data);
	assert_int_equal(fstatat(dfd, "out", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(read_file_at(dfd, "out.tmp.1", 64, &data, &len), 0);
	assert_memory_equal(data, "keep", 4);
	free(data);

	assert_non_null(d = fdopendir(dup(dfd)));
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names++;
		unlinkat(dfd, e->d_name, 0);
	}
	closedir(d);
	assert_int_equal(names, 2);
	close(dfd);
	assert_true(fileio_is_atomic_temp("out.tmp.0123456789abcdef"));
	assert_false(fileio_is_atomic_temp("out.tmp.0123456789abcdeg"));
	assert_false(fileio_is_atomic_temp("out.tmp.0123456789abcde"));
	assert_false(fileio_is_atomic_temp(".tmp.0123456789abcdef"));
	assert_false(fileio_is_atomic_temp("out.tmp.1"));
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_ok),
		cmocka_unit_test(test_json_depth),
		cmocka_unit_test(test_json_brackets_in_strings_do_not_count),
		cmocka_unit_test(test_json_bad_utf8_dup),
		cmocka_unit_test(test_uuid_v4),
		cmocka_unit_test(test_errcode),
		cmocka_unit_test(test_errf_wrap),
		cmocka_unit_test(test_opt_help_uint),
		cmocka_unit_test(test_cond_mono),
		cmocka_unit_test(test_exec_umask),
		cmocka_unit_test(test_json_at),
		cmocka_unit_test(test_json_array_find),
		cmocka_unit_test(test_time_rfc3339),
		cmocka_unit_test(test_uuid_format),
		cmocka_unit_test(test_mono_units),
		cmocka_unit_test(test_ossl_cleanup),
		cmocka_unit_test(test_hex_decode),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_open_regular),
		cmocka_unit_test(test_write_atomic_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
