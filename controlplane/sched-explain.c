/* Rendering of placement explanations: one line of text for people and
 * events, JSON for instance status and the audit trail. Both come from
 * the same compact struct, so they never disagree. JSON carries scores
 * as integer milli-points: exact, and serialised the same by every
 * jansson version (the audit trail hashes what it stores). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/sched-internal.h"
#include "lib/buf.h"

struct entry {
	uint32_t	 count;
	int		 reason;
	const char	*text;	/* rule description, or NULL: the reason text */
	int		 seq;
};

/* At most every reason plus one per rule. */
#define MAX_ENTRIES (SCHED_R__MAX + 2 * SCHED_MAX_RULES)

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;	/* ordering */
	return x->seq - y->seq;
}

/* Collects non-zero reject counts, breaking the per-rule reasons down by
 * rule, largest first (ties in reason order). */
static size_t
collect(const struct sched_explain *e, struct entry *out)
{
	size_t n = 0;
	int seq = 0;

	for (int r = 0; r < SCHED_R__MAX; r++) {
		if (!e->rejects[r])
			continue;
		if (r == SCHED_R_ANTI_AFFINITY || r == SCHED_R_SPREAD) {
			const uint32_t *cnt = r == SCHED_R_SPREAD ? e->spread_rule_rejects :
			    e->anti_rule_rejects;

			for (int k = 0; k < SCHED_MAX_RULES; k++)
				if (cnt[k])
					out[n++] = (struct entry){ cnt[k], r,
					    r == SCHED_R_SPREAD ? e->spread_desc[k] : e->anti_desc[k],
					    seq++ };
			continue;
		}
		out[n++] = (struct entry){ e->rejects[r], r, NULL, seq++ };
	}
	qsort(out, n, sizeof(*out), entry_cmp);
	return n;
}

/* 4812 -> "4,812" */
static const char *
thousands(uint64_t v, char buf[32])
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v), o = 0;

	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

/* Milli-points as a short decimal: 95500 -> "95.5". */
static const char *
points(int64_t v, char buf[32])
{
	int64_t a = v < 0 ? -v : v;
	int n = snprintf(buf, 32, "%s%lld.%03lld", v < 0 ? "-" : "", (long long)(a / 1000),
	    (long long)(a % 1000));

	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = 0;
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = 0;
	return buf;
}

static const char *
entry_text(const struct entry *en)
{
	return en->text && *en->text ? en->text : sched_reason_text(en->reason);
}

int
sched_explain_format(const struct sched_explain *e, char **ret)
{
	struct entry ents[MAX_ENTRIES];
	struct bw_buf o = { 0 };
	char a[32], b[32];
	size_t n = collect(e, ents);
	const char *sep = "";

	if (e->placed) {
		bw_buf_printf(&o, "placed on %s: %s nodes, %s feasible", e->node,
		    thousands(e->nodes_total, a), thousands(e->nodes_feasible, b));
		if (e->nodes_evaluated < e->nodes_total)
			bw_buf_printf(&o, " (%s evaluated)", thousands(e->nodes_evaluated, a));
		bw_buf_printf(&o, "; score %s:", points(e->total, a));
		for (int s = 0; s < SCHED_S__MAX; s++)
			if (e->active_scores & (1u << s)) {
				bw_buf_printf(&o, "%s %s %s x%d", sep, sched_score_name(s),
				    points(e->scores[s], a), e->weights[s]);
				sep = ",";
			}
		if (n)
			bw_buf_printf(&o, "; rejected: ");
	} else {
		bw_buf_printf(&o, "unschedulable: 0/%s nodes available", thousands(e->nodes_total, a));
		if (e->nodes_evaluated < e->nodes_total)
			bw_buf_printf(&o, " (%s evaluated)", thousands(e->nodes_evaluated, a));
		bw_buf_printf(&o, n ? ": " : ": no nodes");
	}
	for (size_t i = 0; i < n; i++)
		bw_buf_printf(&o, "%s%s node%s: %s", i ? "; " : "", thousands(ents[i].count, a),
		    ents[i].count == 1 ? "" : "s", entry_text(&ents[i]));
	if (o.err || !o.p) {
		bw_buf_done(&o);
		return -ENOMEM;
	}
	*ret = o.p;
	return 0;
}

int
sched_explain_to_json(const struct sched_explain *e, json_t **ret)
{
	struct entry ents[MAX_ENTRIES];
	size_t n = collect(e, ents);
	json_t *root, *rej, *plugins;

	root = json_pack("{s:b, s:{s:I, s:I, s:I}}", "placed", e->placed, "nodes", "total",
	    (json_int_t)e->nodes_total, "evaluated", (json_int_t)e->nodes_evaluated, "feasible",
	    (json_int_t)e->nodes_feasible);
	rej = json_array();
	if (!root || !rej)
		goto oom;
	if (e->placed) {
		plugins = json_array();
		if (!plugins || json_object_set_new(root, "node", json_string(e->node)) < 0 ||
		    json_object_set_new(root, "score", json_pack("{s:I, s:o}", "total_milli",
		    (json_int_t)e->total, "plugins", plugins)) < 0)
			goto oom;
		for (int s = 0; s < SCHED_S__MAX; s++)
			if ((e->active_scores & (1u << s)) &&
			    json_array_append_new(plugins, json_pack("{s:s, s:I, s:i}", "plugin",
			    sched_score_name(s), "score_milli", (json_int_t)e->scores[s], "weight",
			    e->weights[s])) < 0)
				goto oom;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *it = json_pack("{s:s, s:s, s:I}", "filter",
		    sched_filter_name(sched_reason_filter(ents[i].reason)), "reason",
		    sched_reason_text(ents[i].reason), "nodes", (json_int_t)ents[i].count);

		if (!it)
			goto oom;
		if (ents[i].text && *ents[i].text &&
		    json_object_set_new(it, "rule", json_string(ents[i].text)) < 0) {
			json_decref(it);
			goto oom;
		}
		if (json_array_append_new(rej, it) < 0)
			goto oom;
	}
	if (json_object_set_new(root, "rejected", rej) < 0) {
		rej = NULL;
		goto oom;
	}
	*ret = root;
	return 0;
oom:
	json_decref(rej);
	json_decref(root);
	return -ENOMEM;
}
