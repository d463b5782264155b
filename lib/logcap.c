/* Capped, rotated capture of an instance's output; see logcap.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/logcap.h"
#include "lib/macro.h"

/* A record on the pump's pipe: a header and up to REC_PAYLOAD bytes,
 * PIPE_BUF in all, so a non-blocking write puts all of it or nothing. */
#define REC_HDR		4
#define REC_MAX		PIPE_BUF
#define REC_PAYLOAD	(REC_MAX - REC_HDR)
#define REC_LINES	'L'	/* whole lines */
#define REC_DROPPED	'D'	/* decimal count of lines dropped so far */

#define VIEW_TRIES	200	/* 1 ms apart, across a rotation */

_Static_assert(LOGCAP_LINE_MAX + 1 <= REC_PAYLOAD, "a line fits a record");

/* ---- the pump ---- */

struct pump {
	int		 out;
	bool		 out_gone;
	char		 rec[REC_MAX];
	size_t		 len;		/* payload bytes in rec */
	unsigned	 lines;
	uint64_t	 dropped, dropped_sent;
};

/* Sends one record; false when it was not written (pipe full or gone). */
static bool
pump_send(struct pump *p, char type, char *rec, size_t len)
{
	ssize_t n;

	if (p->out_gone)
		return false;
	rec[0] = (char)(len & 0xff);
	rec[1] = (char)(len >> 8);
	rec[2] = type;
	rec[3] = 0;
	do
		n = write(p->out, rec, REC_HDR + len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN)
		p->out_gone = true;
	return n == (ssize_t)(REC_HDR + len);
}

static void
pump_flush(struct pump *p)
{
	if (p->len == 0)
		return;
	if (p->dropped > p->dropped_sent) {
		char	d[REC_HDR + 24];
		int	n = snprintf(d + REC_HDR, sizeof(d) - REC_HDR, "%" PRIu64,
		    p->dropped);

		if (pump_send(p, REC_DROPPED, d, (size_t)n))
			p->dropped_sent = p->dropped;
	}
	if (!pump_send(p, REC_LINES, p->rec, p->len))
		p->dropped += p->lines;
	p->len = 0;
	p->lines = 0;
}

/* Adds the line S[0..N) (with its newline, or NL to add one). */
static void
pump_line(struct pump *p, const char *s, size_t n, bool nl)
{
	if (p->len + n + nl > REC_PAYLOAD)
		pump_flush(p);
	memcpy(p->rec + REC_HDR + p->len, s, n);
	p->len += n;
	if (nl)
		p->rec[REC_HDR + p->len++] = '\n';
	p->lines++;
}

/* Adds the whole lines S[0..N) at once (N ends with a newline). */
static void
pump_lines(struct pump *p, const char *s, size_t n)
{
	memcpy(p->rec + REC_HDR + p->len, s, n);
	p->len += n;
	for (const char *e = s + n; (s = memchr(s, '\n', (size_t)(e - s)));
	    s++)
		p->lines++;
}

/* Moves the whole lines of BUF[0..*HAVE) into records, as many as fit
 * at a time (a fast writer's short lines cost a copy per record, not per
 * line); a line that fits no record (over REC_PAYLOAD bytes) is cut into
 * lines of LOGCAP_LINE_MAX. The partial line left moves to the front. */
static void
pump_split(struct pump *p, char *buf, size_t *have)
{
	size_t	off = 0, win;
	char	*nl;

	while (off < *have) {
		win = *have - off;
		if (win > REC_PAYLOAD - p->len)
			win = REC_PAYLOAD - p->len;
		if (win > 0 && (nl = memrchr(buf + off, '\n', win))) {
			pump_lines(p, buf + off, (size_t)(nl - (buf + off)) + 1);
			off = (size_t)(nl - buf) + 1;
		} else if (p->len > 0)
			pump_flush(p);	/* the next line needs a record of its own */
		else if (*have - off > LOGCAP_LINE_MAX) {
			pump_line(p, buf + off, LOGCAP_LINE_MAX, true);
			off += LOGCAP_LINE_MAX;
		} else
			break;
	}
	memmove(buf, buf + off, *have - off);
	*have -= off;
}

int
logcap_pump(int in_fd, int out_fd, uint64_t *ret_dropped)
{
	static struct pump	 p;
	static char		 buf[64 * 1024];
	size_t			 have = 0, before;
	int64_t			 partial_at = 0;
	int			 fl, r = 0;

	p = (struct pump){ .out = out_fd };
	fl = fcntl(out_fd, F_GETFL);
	if (fl < 0 || fcntl(out_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	for (;;) {
		struct pollfd	pfd = { in_fd, POLLIN, 0 };
		int		timeout = -1;
		ssize_t		n;

		if (have > 0) {
			timeout = (int)(partial_at + LOGCAP_FLUSH_MS -
			    bw_mono_ms());
			if (timeout < 0)
				timeout = 0;
		}
		if (poll(&pfd, 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (have > 0 && bw_mono_ms() >= partial_at + LOGCAP_FLUSH_MS) {
			/* A partial line waited long enough: out it goes. */
			pump_line(&p, buf, have, true);
			have = 0;
			pump_flush(&p);
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(in_fd, buf + have, sizeof(buf) - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		have += (size_t)n;
		before = have;
		pump_split(&p, buf, &have);
		/* The wait of a partial line starts when it began: in this
		 * read when the read ended lines (or brought the first
		 * bytes), not when an earlier, since-ended line began. A
		 * steady writer whose writes end mid-line would otherwise
		 * have a line cut every LOGCAP_FLUSH_MS. */
		if (have > 0 && (have < before || have == (size_t)n))
			partial_at = bw_mono_ms();
		pump_flush(&p);
	}
	if (have > 0)
		pump_line(&p, buf, have, true);
	pump_flush(&p);
	if (p.dropped > p.dropped_sent) {
		/* The count last: wait for room, the instance is gone. */
		char	d[REC_HDR + 24];
		int	n = snprintf(d + REC_HDR, sizeof(d) - REC_HDR, "%" PRIu64,
		    p.dropped);

		for (int i = 0; i < 100 && !pump_send(&p, REC_DROPPED, d,
		    (size_t)n) && !p.out_gone; i++)
			usleep(10000);
	}
	if (ret_dropped)
		*ret_dropped = p.dropped;
	return r;
}

/* ---- the store ---- */

struct store {
	int		 fd;
	const char	*path;
	uint64_t	 half, size, base;
	uint64_t	 dropped_before;	/* by earlier runs */
	char		 p1[PATH_MAX], pbase[PATH_MAX], pdrop[PATH_MAX];
	char		 tmp[PATH_MAX];
};

/* Replaces PATH with TEXT through TMP and a rename (no fsync: a crash
 * may lose the last count, never mix two). */
static int
store_small(const char *path, const char *tmp, const char *text)
{
	int	fd, r = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0640);
	if (fd < 0)
		return -errno;
	if (write_all(fd, text, strlen(text)) < 0)
		r = -EIO;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	return r;
}

static int
store_save_base(struct store *s)
{
	struct stat	st;
	char		text[64];

	if (fstat(s->fd, &st) < 0)
		return -errno;
	snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu64 "\n", s->base,
	    (uint64_t)st.st_ino);
	return store_small(s->pbase, s->tmp, text);
}

/* PATH becomes PATH.1 (replacing it) and a new PATH starts. When the
 * rename fails the log starts over in place: the cap holds either way. */
static int
store_rotate(struct store *s)
{
	int fd;

	if (rename(s->path, s->p1) < 0) {
		if (ftruncate(s->fd, 0) < 0)
			return -errno;
		s->base += s->size;
		s->size = 0;
		return store_save_base(s);
	}
	fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	close(s->fd);
	s->fd = fd;
	s->base += s->size;
	s->size = 0;
	return store_save_base(s);
}

static int
store_append(struct store *s, const char *buf, size_t len)
{
	int r;

	if (s->size > 0 && s->size + len > s->half &&
	    (r = store_rotate(s)) < 0)
		return r;
	if ((r = write_all(s->fd, buf, len)) < 0)
		return r;
	s->size += len;
	return 0;
}

static uint64_t
read_u64_file(const char *path)
{
	char	buf[64];
	ssize_t	n;
	int	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtoull(buf, NULL, 10);
}

/* Takes over what an earlier run left: the logical offset goes on, an
 * oversized log (from before the cap) is cut to the cap. */
static int
store_init(struct store *s, int log_fd, const char *path, uint64_t cap)
{
	struct stat	st;

	s->fd = log_fd;
	s->path = path;
	s->half = cap / 2;
	if ((size_t)snprintf(s->p1, sizeof(s->p1), "%s.1", path) >=
	    sizeof(s->p1) ||
	    (size_t)snprintf(s->pbase, sizeof(s->pbase), "%s.base", path) >=
	    sizeof(s->pbase) ||
	    (size_t)snprintf(s->pdrop, sizeof(s->pdrop), "%s.dropped", path) >=
	    sizeof(s->pdrop) ||
	    (size_t)snprintf(s->tmp, sizeof(s->tmp), "%s.tmp", path) >=
	    sizeof(s->tmp))
		return -ENAMETOOLONG;
	if (fstat(log_fd, &st) < 0)
		return -errno;
	s->size = (uint64_t)st.st_size;
	s->base = read_u64_file(s->pbase);
	s->dropped_before = read_u64_file(s->pdrop);
	if (stat(s->p1, &st) == 0 && (uint64_t)st.st_size > s->half)
		(void)unlink(s->p1);
	if (s->size > s->half) {
		int r = store_rotate(s);

		if (r < 0)
			return r;
		(void)unlink(s->p1);
		return 0;
	}
	return store_save_base(s);
}

static int
read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return got == 0 ? 0 : -EIO;
		got += (size_t)n;
	}
	return 1;
}

static int
store_dropped(struct store *s, const char *payload, uint64_t *seen)
{
	char		text[128];
	uint64_t	total = strtoull(payload, NULL, 10);
	int		r;

	if (total <= *seen)
		return 0;
	snprintf(text, sizeof(text), "bulwark: %" PRIu64 " lines of output "
	    "dropped (the log could not keep up)\n", total - *seen);
	*seen = total;
	if ((r = store_append(s, text, strlen(text))) < 0)
		return r;
	snprintf(text, sizeof(text), "%" PRIu64 "\n", s->dropped_before +
	    total);
	return store_small(s->pdrop, s->tmp, text);
}

int
logcap_store(int in_fd, int log_fd, const char *path, uint64_t cap)
{
	static struct store	 s;
	static char		 rec[REC_MAX + 1];
	uint64_t		 seen = 0;
	size_t			 len;
	char			 type;
	int			 r;

	if ((r = store_init(&s, log_fd, path, cap)) < 0)
		return r;
	for (;;) {
		if ((r = read_full(in_fd, rec, REC_HDR)) <= 0)
			break;
		len = (size_t)(unsigned char)rec[0] |
		    (size_t)(unsigned char)rec[1] << 8;
		type = rec[2];
		if (len > REC_PAYLOAD) {
			r = -EPROTO;
			break;
		}
		if ((r = read_full(in_fd, rec, len)) <= 0) {
			r = r == 0 ? -EIO : r;
			break;
		}
		rec[len] = '\0';
		if (type == REC_DROPPED)
			r = store_dropped(&s, rec, &seen);
		else
			r = store_append(&s, rec, len);
		/* A failing disk costs the output, never the instance: the
		 * pump counts what no longer fits. */
		(void)r;
	}
	return r;
}

int
logcap_start(int log_fd, const char *path, uint64_t cap, int *ret_fd,
    pid_t ret_pids[2])
{
	int	in[2], mid[2];
	pid_t	pump = -1, store;

	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(mid, O_CLOEXEC) < 0) {
		int e = -errno;

		close(in[0]);
		close(in[1]);
		return e;
	}
	(void)fcntl(mid[1], F_SETPIPE_SZ, LOGCAP_PIPE_SIZE);
	if ((store = fork()) == 0) {
		close(in[0]);
		close(in[1]);
		close(mid[1]);
		_exit(logcap_store(mid[0], log_fd, path, cap) < 0 ? 1 : 0);
	}
	if (store > 0 && (pump = fork()) == 0) {
		(void)signal(SIGPIPE, SIG_IGN);
		close(in[1]);
		close(mid[0]);
		close(log_fd);
		_exit(logcap_pump(in[0], mid[1], NULL) < 0 ? 1 : 0);
	}
	close(in[0]);
	close(mid[0]);
	close(mid[1]);
	if (store < 0 || pump < 0) {
		int e = -errno;

		close(in[1]);
		/* The store sees its pipe end and exits. */
		if (store > 0)
			while (waitpid(store, NULL, 0) < 0 && errno == EINTR)
				;
		return e;
	}
	*ret_fd = in[1];
	ret_pids[0] = pump;
	ret_pids[1] = store;
	return 0;
}

/* ---- reading ---- */

/* The two files of a log as one consistent snapshot: OLD (PATH.1, may
 * be -1) holds [base - old_size, base), CUR [base, base + cur_size). */
struct view {
	int		old, cur;
	uint64_t	old_size, cur_size, base;
};

static void
view_close(struct view *v)
{
	if (v->old >= 0)
		close(v->old);
	if (v->cur >= 0)
		close(v->cur);
	v->old = v->cur = -1;
}

/* "OFFSET INODE" of PATH.base; -ENOENT for a log never capped. */
static int
view_base(const char *pbase, uint64_t *ret_base, uint64_t *ret_ino)
{
	char		buf[64];
	ssize_t		n;
	unsigned long long b, i;
	int		fd = open(pbase, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EAGAIN;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &b, &i) != 2)
		return -EAGAIN;
	*ret_base = b;
	*ret_ino = i;
	return 0;
}

/* One try: -EAGAIN when a rotation ran meanwhile. */
static int
view_try(const char *path, const char *p1, const char *pbase,
    struct view *v)
{
	struct stat	cst, ost;
	uint64_t	base, ino, base2, ino2;
	int		r;

	*v = (struct view){ .old = -1, .cur = -1 };
	if ((r = view_base(pbase, &base, &ino)) == -ENOENT) {
		/* Not captured by logcap: PATH alone. */
		if ((v->cur = open_regular_at(AT_FDCWD, path)) < 0)
			return v->cur;
		if (fstat(v->cur, &cst) < 0)
			return -errno;
		v->cur_size = (uint64_t)cst.st_size;
		return 0;
	}
	if (r < 0)
		return r;
	if ((v->cur = open_regular_at(AT_FDCWD, path)) < 0)
		return v->cur == -ENOENT ? -EAGAIN : v->cur;
	if (fstat(v->cur, &cst) < 0)
		return -errno;
	if ((uint64_t)cst.st_ino != ino)
		return -EAGAIN;
	if ((v->old = open_regular_at(AT_FDCWD, p1)) >= 0) {
		if (fstat(v->old, &ost) < 0)
			return -errno;
		if (ost.st_ino == cst.st_ino)
			return -EAGAIN;
		v->old_size = (uint64_t)ost.st_size;
	} else if (v->old != -ENOENT)
		return v->old;
	if (view_base(pbase, &base2, &ino2) < 0 || base2 != base || ino2 != ino)
		return -EAGAIN;
	if (v->old_size > base)
		v->old_size = base;
	v->base = base;
	v->cur_size = (uint64_t)cst.st_size;
	return 0;
}

static int
view_open(const char *path, struct view *v, uint64_t *ret_dropped)
{
	char	p1[PATH_MAX], pbase[PATH_MAX], pdrop[PATH_MAX];
	int	r = -EAGAIN;

	if ((size_t)snprintf(p1, sizeof(p1), "%s.1", path) >= sizeof(p1) ||
	    (size_t)snprintf(pbase, sizeof(pbase), "%s.base", path) >=
	    sizeof(pbase) ||
	    (size_t)snprintf(pdrop, sizeof(pdrop), "%s.dropped", path) >=
	    sizeof(pdrop))
		return -ENAMETOOLONG;
	for (int i = 0; i < VIEW_TRIES; i++) {
		if ((r = view_try(path, p1, pbase, v)) != -EAGAIN)
			break;
		view_close(v);
		usleep(1000);
	}
	if (r < 0) {
		view_close(v);
		return r;
	}
	*ret_dropped = read_u64_file(pdrop);
	return 0;
}

/* Reads logical [FROM, FROM + LEN) of V into BUF. */
static int
view_pread(struct view *v, uint64_t from, char *buf, size_t len)
{
	uint64_t	start = v->base - v->old_size;
	size_t		done = 0;
	int		r;

	if (from < v->base) {
		size_t n = (size_t)(v->base - from) < len ?
		    (size_t)(v->base - from) : len;

		if ((r = pread_all(v->old, buf, n, (off_t)(from - start))) < 0)
			return r;
		done = n;
	}
	if (done < len && (r = pread_all(v->cur, buf + done, len - done,
	    (off_t)(from + done - v->base))) < 0)
		return r;
	return 0;
}

/* Reads logical [FROM, FROM + LEN) of V into *RET (caller frees, room
 * for a NUL) and closes V either way. */
static int
view_take(struct view *v, uint64_t from, size_t len, char **ret)
{
	char	*buf = malloc(len + 1);
	int	 r = buf ? view_pread(v, from, buf, len) : -ENOMEM;

	view_close(v);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	return 0;
}

static void
view_info(const struct view *v, uint64_t from, uint64_t dropped,
    struct logcap_info *ret)
{
	*ret = (struct logcap_info){ .start = v->base - v->old_size,
	    .end = v->base + v->cur_size, .from = from, .dropped = dropped };
}

int
logcap_read(const char *path, uint64_t from, size_t max, char **ret_buf,
    size_t *ret_len, struct logcap_info *ret_info)
{
	struct view	 v;
	uint64_t	 dropped, start, end;
	size_t		 len;
	char		*buf, *nl;
	int		 r;

	if ((r = view_open(path, &v, &dropped)) < 0)
		return r;
	start = v.base - v.old_size;
	end = v.base + v.cur_size;
	if (from < start)
		from = start;
	if (from > end)
		from = end;
	len = end - from > max ? max : (size_t)(end - from);
	if ((r = view_take(&v, from, len, &buf)) < 0)
		return r;
	/* Cut short: end at the last whole line, the rest comes next. */
	if (from + len < end && (nl = memrchr(buf, '\n', len)))
		len = (size_t)(nl - buf) + 1;
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	view_info(&v, from, dropped, ret_info);
	return 0;
}

int
logcap_tail(const char *path, unsigned lines, size_t max, char **ret_buf,
    size_t *ret_len, struct logcap_info *ret_info)
{
	struct view	 v;
	uint64_t	 dropped, start, end, from;
	size_t		 len, cut = 0;
	unsigned	 seen = 0;
	char		*buf;
	int		 r;

	if ((r = view_open(path, &v, &dropped)) < 0)
		return r;
	start = v.base - v.old_size;
	end = v.base + v.cur_size;
	len = end - start > max ? max : (size_t)(end - start);
	from = end - len;
	if ((r = view_take(&v, from, len, &buf)) < 0)
		return r;
	/* Start at a line's beginning: after the newline that ends the
	 * LINES-th line from the end, or the first one when cut. */
	for (size_t i = len; i > 0; i--) {
		if (buf[i - 1] != '\n' || i == len)
			continue;
		if (lines > 0 && ++seen == lines) {
			cut = i;
			break;
		}
	}
	if (cut == 0 && from > start) {
		char *nl = memchr(buf, '\n', len);

		cut = nl ? (size_t)(nl - buf) + 1 : len;
	}
	memmove(buf, buf + cut, len - cut);
	len -= cut;
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	view_info(&v, from + cut, dropped, ret_info);
	return 0;
}
