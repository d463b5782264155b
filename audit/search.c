#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "audit/search.h"
#include "audit/segment.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"

static int
str_match(const char *pat, const char *s)
{
	size_t n;

	if (!pat || !pat[0])
		return 1;
	if (!s)
		s = "";
	n = strlen(pat);
	if (pat[n - 1] == '*')
		return strncmp(pat, s, n - 1) == 0;
	return strcmp(pat, s) == 0;
}

static int
ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;	/* ordering */
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;	/* ordering */
	return 0;
}

int
audit_search_match(const struct audit_search_filter *f,
    const struct audit_record *rec)
{
	if (!f)
		return 1;
	if (f->seq_from && rec->seq < f->seq_from)
		return 0;
	if (f->seq_to && rec->seq > f->seq_to)
		return 0;
	if (f->since.tv_sec && ts_cmp(&rec->time, &f->since) < 0)
		return 0;
	if (f->until.tv_sec && ts_cmp(&rec->time, &f->until) > 0)
		return 0;
	return str_match(f->actor, rec->actor) &&
	    str_match(f->action, rec->action) &&
	    str_match(f->object_kind, rec->object_kind) &&
	    str_match(f->object_tenant, rec->object_tenant) &&
	    str_match(f->object_name, rec->object_name) &&
	    str_match(f->outcome, rec->outcome) &&
	    str_match(f->tenant, rec->tenant);
}

int
audit_search_dir(const char *dir, const struct audit_search_filter *f,
    audit_search_cb cb, void *userdata, char **ret_err)
{
	_cleanup_close_ int	 dfd = -1;
	char			**names = NULL;
	size_t			 n = 0;
	int			 r = 0;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errf(-errno, ret_err, "%s: %s", dir, strerror(errno));
	if ((r = audit_segment_list(dfd, &names, &n)) < 0)
		return errf(r, ret_err, "%s: %s", dir, bw_strerror(r));
	for (size_t i = 0; i < n && r == 0; i++) {
		_cleanup_free_ char	*data = NULL;
		uint64_t		 first, next_first;
		size_t			 len, pos, lines = 0;

		if (f && f->cancelled && (r = f->cancelled(userdata)) != 0)
			break;

		/* Segment names carry their first seq: skip whole files
		 * outside the seq range without reading them. */
		if (f && f->seq_to && audit_segment_name_parse(names[i], &first) == 0 &&
		    first > f->seq_to)
			break;
		if (f && f->seq_from && i + 1 < n &&
		    audit_segment_name_parse(names[i + 1], &next_first) == 0 &&
		    next_first <= f->seq_from)
			continue;
		if ((r = read_file_at(dfd, names[i], AUDIT_SEGMENT_READ_MAX, &data,
		    &len)) < 0) {
			r = errf(r, ret_err, "%s/%s: %s", dir, names[i], bw_strerror(r));
			break;
		}
		pos = 0;
		if (len && (data[0] == 'b')) {
			const char *nl = memchr(data, '\n', len);

			pos = nl ? (size_t)(nl - data) + 1 : len;
		}
		while (pos < len && r == 0) {
			const char		*nl = memchr(data + pos, '\n', len - pos);
			size_t			 ll;
			struct audit_line	 l;

			if (!nl)
				break;
			if (f && f->cancelled &&
			    ++lines % AUDIT_SEARCH_POLL_LINES == 0 &&
			    (r = f->cancelled(userdata)) != 0)
				break;
			ll = (size_t)(nl - data) - pos;
			if (audit_line_parse(data + pos, ll, &l, NULL) == 0) {
				if (audit_search_match(f, &l.rec)) {
					data[pos + ll] = '\0';
					r = cb(&l.rec, data + pos, ll, userdata);
					data[pos + ll] = '\n';
				}
				audit_line_done(&l);
			}
			pos = (size_t)(nl - data) + 1;
		}
	}
	audit_segment_list_free(names, n);
	return r;
}
