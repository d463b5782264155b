/* The protocol between bulwarkd's compliance scan and bulwark-collect,
 * the privileged read-only collector (bulwark-collect(8)): one fixed
 * request, one answer, over a UNIX stream socket, then the collector
 * exits (systemd starts one per connection).
 *
 * A frame is a 12-byte header in host byte order (both ends run on the
 * same machine) and its payload:
 *
 *   uint32 magic     COMP_COLLECT_MAGIC
 *   uint16 version   COMP_COLLECT_VERSION; any other is refused
 *   uint16 type      COMP_COLLECT_REQ_SCAN or COMP_COLLECT_ANSWER
 *   uint32 len       payload bytes
 *
 * The request is a header of type COMP_COLLECT_REQ_SCAN with no
 * payload: the client names nothing, the collector reads only what it
 * was built to read. The answer's payload is a JSON object
 *
 *   {"euid": N, "results": [{"check": ID, "verdict": V,
 *     "error": S?, "observations": [{"subject", "found", "required",
 *     "ok"}], "evidence": [{"ref", "sha256"}]}]}
 *
 * with one result per check of comp_collect_checks[], each at most once,
 * within the bounds below. The observations are what the checks print
 * (account names, counts, hash algorithms, settings), never a password
 * hash; the evidence is an absolute path (nothing else is taken) and the
 * SHA-256 of what was read (none for /etc/shadow and /etc/gshadow). */
#ifndef BW_COMPLIANCE_COLLECT_PROTO_H
#define BW_COMPLIANCE_COLLECT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/macro.h"

#define COMP_COLLECT_MAGIC	0x43435742u	/* "BWCC" little-endian */
#define COMP_COLLECT_VERSION	1
#define COMP_COLLECT_HDR_LEN	12
#define COMP_COLLECT_REQ_SCAN	1
#define COMP_COLLECT_ANSWER	2

/* Bounds on an answer: its payload, the observations and evidence of
 * one check, and each string. */
#define COMP_COLLECT_ANSWER_MAX	((size_t)2 << 20)
#define COMP_COLLECT_OBS_MAX	4096
#define COMP_COLLECT_EV_MAX	4096
#define COMP_COLLECT_STR_MAX	1024

/* The socket bulwarkd asks (the unit bulwark-collect.socket). */
#define COMP_COLLECT_SOCKET	"/run/bulwark-collect.sock"

/* The checks the collector runs: those reading root-only host files
 * (docs/install.md, the installed appliance's scan). NULL ends. */
extern const char *const comp_collect_checks[];

/* Whether check ID is one of comp_collect_checks[]. */
bool comp_collect_is_privileged(const char *id);

struct comp_collect_obs {
	char	*subject, *found, *required;
	bool	 ok;
};

struct comp_collect_ev {
	char	*ref;
	char	 sha256[65];	/* hex, or "" */
};

struct comp_collect_result {
	const char		*check;	/* points into comp_collect_checks[] */
	int			 verdict;	/* enum comp_verdict */
	char			*error;		/* COMP_ERROR's message, or NULL */
	struct comp_collect_obs	*obs;
	size_t			 n_obs;
	struct comp_collect_ev	*ev;
	size_t			 n_ev;
};

struct comp_collect_answer {
	int				 euid;
	struct comp_collect_result	*results;
	size_t				 n;
};

/* Writes a header of TYPE and payload length LEN to OUT. */
void comp_collect_header(unsigned char out[COMP_COLLECT_HDR_LEN],
    uint16_t type, uint32_t len);

/* Checks that P (LEN bytes) is exactly a scan request. Returns 0 or
 * -BW_E_INVALID with *ret_err. */
int comp_collect_request_check(const unsigned char *p, size_t len,
    char **ret_err);

/* Checks the header at P (LEN >= COMP_COLLECT_HDR_LEN bytes) of an
 * answer and returns its payload length in *ret_len. Returns 0,
 * -BW_E_INVALID or -BW_E_TOOLARGE with *ret_err. */
int comp_collect_answer_size(const unsigned char *p, size_t len,
    size_t *ret_len, char **ret_err);

/* Parses a whole answer frame P (LEN bytes: header and payload, nothing
 * left over) into *ret (free with comp_collect_answer_free()). Returns
 * 0, -BW_E_INVALID / -BW_E_TOOLARGE with *ret_err, or -ENOMEM. */
int comp_collect_answer_parse(const unsigned char *p, size_t len,
    struct comp_collect_answer **ret, char **ret_err);

/* Accepts NULL. */
void comp_collect_answer_free(struct comp_collect_answer *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct comp_collect_answer *,
    comp_collect_answer_free);

#endif
