#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/fileio.h"
#include "lib/logcap.h"
#include "lib/macro.h"

static char dir[] = "/tmp/test-logcap.XXXXXX";

static uint64_t
fsize(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Starts a capture of PATH capped at CAP; returns the fd to write. */
static int
capture(const char *path, uint64_t cap, pid_t pids[2])
{
	int fd, log_fd;

	log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	assert_true(log_fd >= 0);
	assert_int_equal(logcap_start(log_fd, path, cap, &fd, pids), 0);
	close(log_fd);
	return fd;
}

static void
capture_end(int fd, pid_t pids[2])
{
	int st;

	close(fd);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

/* Every line is one the writer wrote or the capture's own note. */
static void
check_lines(const char *buf, size_t len)
{
	const char *p = buf, *nl;

	while (p < buf + len) {
		nl = memchr(p, '\n', (size_t)(buf + len - p));
		assert_non_null(nl);
		if (strncmp(p, "bulwark: ", 9) != 0) {
			assert_true(strncmp(p, "line ", 5) == 0);
			assert_int_equal(nl - p, 5 + 8);
		}
		p = nl + 1;
	}
}

/* 8 MiB through a 256 KiB cap leaves at most 256 KiB, whole lines,
 * the last of them readable by tail and by offset. */
static void
test_cap_and_rotation(void **state)
{
	char		 path[128], line[32], *buf = NULL;
	size_t		 len;
	pid_t		 pids[2];
	struct logcap_info info;
	int		 fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/cap.log", dir);
	fd = capture(path, 256 * 1024, pids);
	for (unsigned i = 0; i < 8 * 1024 * 1024 / 14; i++) {
		snprintf(line, sizeof(line), "line %08u\n", i);
		assert_int_equal(write_all(fd, line, 14), 0);
	}
	usleep(300000);
	assert_int_equal(write_all(fd, "line 99999999\n", 14), 0);
	capture_end(fd, pids);
	{
		char p1[160];

		snprintf(p1, sizeof(p1), "%s.1", path);
		assert_true(fsize(path) + fsize(p1) <= 256 * 1024);
		assert_true(fsize(p1) > 0);
	}
	/* The last line; before it one of ours or the capture's note of
	 * lines it dropped (sent ahead of the lines that follow a drop). */
	assert_int_equal(logcap_tail(path, 1, 1 << 20, &buf, &len, &info), 0);
	assert_string_equal(buf, "line 99999999\n");
	assert_int_equal(info.end - info.from, 14);
	free(buf);
	assert_int_equal(logcap_tail(path, 2, 1 << 20, &buf, &len, &info), 0);
	check_lines(buf, len);
	assert_int_equal(info.end - info.from, len);
	/* Rotated, and what went missing was counted (a busy machine may
	 * drop some). */
	assert_true(info.start > 0);
	assert_true(info.dropped > 0 || info.end > 8 * 1024 * 1024);
	free(buf);
	assert_int_equal(logcap_read(path, 0, 1 << 20, &buf, &len, &info), 0);
	assert_int_equal(info.from, info.start);
	assert_int_equal(info.from + len, info.end);
	check_lines(buf, len);
	free(buf);
	/* A short read ends at a line's end and the next one goes on. */
	assert_int_equal(logcap_read(path, info.start, 100, &buf, &len,
	    &info), 0);
	assert_int_equal(len, 98);
	check_lines(buf, len);
	free(buf);
}

/* The pump never waits for a store that does not read: it drops and
 * counts. */
static void
test_pump_drops(void **state)
{
	int		in[2], out[2];
	uint64_t	dropped = 0;
	pid_t		w;
	int		st;

	(void)state;
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	(void)fcntl(out[1], F_SETPIPE_SZ, 4096);
	if ((w = fork()) == 0) {
		char line[] = "line 00000000\n";

		close(in[0]);
		for (int i = 0; i < 100000; i++)
			if (write_all(in[1], line, 14) < 0)
				_exit(1);
		_exit(0);
	}
	close(in[1]);
	assert_int_equal(logcap_pump(in[0], out[1], &dropped), 0);
	assert_int_equal(waitpid(w, &st, 0), w);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(dropped > 90000);
	close(in[0]);
	close(out[0]);
	close(out[1]);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A steady writer whose every write ends mid-line keeps its lines whole
 * for longer than LOGCAP_FLUSH_MS: only a partial line that waited that
 * long by itself is cut. When the machine stalls the writer past it, a
 * cut is right, and the check is skipped. */
static void
test_partial_writes(void **state)
{
	char		 path[128], line[16], text[100 * 14], *buf = NULL;
	size_t		 len;
	pid_t		 pids[2];
	struct logcap_info info;
	int64_t		 last, gap, max_gap = 0;
	int		 fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/partial.log", dir);
	for (int i = 0; i < 100; i++) {
		snprintf(line, sizeof(line), "line %08d\n", i);
		memcpy(text + 14 * i, line, 14);
	}
	fd = capture(path, 1 << 20, pids);
	last = now_ms();
	/* 7 bytes, then 14 at a time: each write ends one line and
	 * begins the next */
	for (size_t off = 0, n = 7; off < sizeof(text); off += n, n = 14) {
		if (n > sizeof(text) - off)
			n = sizeof(text) - off;
		assert_int_equal(write_all(fd, text + off, n), 0);
		usleep(3000);
		gap = now_ms() - last;
		last += gap;
		if (gap > max_gap)
			max_gap = gap;
	}
	capture_end(fd, pids);
	assert_int_equal(logcap_read(path, 0, 1 << 20, &buf, &len, &info), 0);
	if (max_gap >= LOGCAP_FLUSH_MS / 2) {
		free(buf);
		skip();
	}
	assert_int_equal(len, 100 * 14);
	check_lines(buf, len);
	free(buf);
}

/* A line longer than LOGCAP_LINE_MAX is cut; one without an ending
 * newline gets one. */
static void
test_long_lines(void **state)
{
	char		 path[128], *big, *buf = NULL;
	size_t		 len;
	pid_t		 pids[2];
	struct logcap_info info;
	int		 fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/long.log", dir);
	fd = capture(path, 1 << 20, pids);
	big = malloc(10000);
	assert_non_null(big);
	memset(big, 'a', 10000);
	assert_int_equal(write_all(fd, big, 10000), 0);
	free(big);
	capture_end(fd, pids);
	assert_int_equal(logcap_read(path, 0, 1 << 20, &buf, &len, &info), 0);
	assert_int_equal(len, 10003);
	assert_int_equal(buf[LOGCAP_LINE_MAX], '\n');
	assert_int_equal(buf[2 * LOGCAP_LINE_MAX + 1], '\n');
	assert_int_equal(buf[len - 1], '\n');
	assert_int_equal(info.dropped, 0);
	free(buf);
	assert_int_equal(logcap_tail(path, 1, 1 << 20, &buf, &len, &info), 0);
	assert_int_equal(len, 10000 - 2 * LOGCAP_LINE_MAX + 1);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_and_rotation),
		cmocka_unit_test(test_pump_drops),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_partial_writes),
	};
	char	cmd[64];
	int	failed;

	if (!mkdtemp(dir))
		return 1;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? failed : 1;
}
