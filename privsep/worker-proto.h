/* The protocol between bulwarkd's privileged parent and its API worker
 * (privsep/worker.c), on the frames of privsep/ipc.h, over two
 * socketpairs made by the parent before it starts the worker:
 *
 *   control (fd 3 in the worker): HELLO, then CONN and ANON from the
 *     worker; CERT, CONN_OK (with the stream's descriptor), CONN_NO and
 *     TEST_HOOK from the parent;
 *   sign (fd 4): SIGN from the worker, SIG from the parent, one at a
 *     time (the worker blocks for the answer inside its handshake).
 *
 * The listening TCP socket is fd 5. The parent reads the worker's
 * frames through the dispatch tables below; everything else ends it. */
#ifndef BW_PRIVSEP_WORKER_PROTO_H
#define BW_PRIVSEP_WORKER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "privsep/ipc.h"

#define PSW_FD_CTL	3
#define PSW_FD_SIGN	4
#define PSW_FD_LISTEN	5

enum psw_type {
	/* worker -> parent, control channel */
	PSW_HELLO = 1,		/* uint32 pid */
	PSW_CONN = 2,		/* struct psw_conn, peer text, cert DER */
	PSW_ANON = 3,		/* uint32 count, "action\0source\0reason" */
	/* worker -> parent, sign channel */
	PSW_SIGN = 10,		/* uint32 generation, digest */
	/* parent -> worker */
	PSW_CERT = 20,		/* struct psw_cert, "ca\0chain\0pubkey" PEM */
	PSW_CONN_OK = 21,	/* id: the CONN's; one descriptor attached */
	PSW_CONN_NO = 22,	/* id: the CONN's */
	PSW_TEST_HOOK = 23,	/* uint8 enum psw_hook */
	PSW_SIG = 24,		/* DER ECDSA signature; empty: refused */
};

/* The worker's states in its control table. */
enum psw_state {
	PSW_ST_START = 0,	/* HELLO only */
	PSW_ST_SERVING = 1,
};

struct psw_conn {
	uint16_t	peer_len;	/* "addr:port", then the DER */
	uint16_t	pad;
};

struct psw_cert {
	uint32_t	generation;	/* SIGN names the key by it */
	uint32_t	max_unauth;	/* handshakes in flight at most */
	uint32_t	handshake_secs;	/* accept to finished handshake */
	uint32_t	per_source;	/* handshakes per address at most */
};

/* What a test build makes a running worker do (--enable-test-hooks). */
enum psw_hook {
	PSW_HOOK_SYSCALL = 1,	/* a system call outside its allow-list */
	PSW_HOOK_SHORT,		/* half a frame, then end of stream */
	PSW_HOOK_OVERSIZED,	/* a length over IPC_PAYLOAD_MAX */
	PSW_HOOK_UNKNOWN,	/* a type the table lacks */
	PSW_HOOK_BADLEN,	/* a CONN shorter than its header */
	PSW_HOOK_VERSION,	/* another protocol version */
	PSW_HOOK_STATE,		/* a second HELLO */
	PSW_HOOK_RATE,		/* ANON frames over their rate */
	PSW_HOOK_MAX
};

/* Names as written to DATA/test-hook ("syscall", "short", ...); NULL
 * past PSW_HOOK_MAX. */
const char *psw_hook_name(int hook);
int psw_hook_parse(const char *s);

#define PSW_PEER_MAX	64
#define PSW_DER_MAX	16384
#define PSW_ANON_MAX	512

/* The parent's dispatch tables for the two channels. */
extern const struct ipc_rule psw_ctl_rules[];
extern const size_t psw_ctl_nrules;
extern const struct ipc_rule psw_sign_rules[];
extern const size_t psw_sign_nrules;

#endif
