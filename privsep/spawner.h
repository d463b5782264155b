/* bulwarkd's spawner: the one process that keeps CAP_SETUID and
 * CAP_SETGID, so that the parent can give them up and the API worker
 * still runs as its own user. bulwarkd forks it at start, before it
 * opens anything (pss_start()); the parent then drops both capabilities
 * (and CAP_SETPCAP) from every set, the bounding set included.
 *
 * The parent asks over a socketpair, in the frames of privsep/ipc.h,
 * read by the spawner through a fixed dispatch table
 * (privsep/spawner.c: which request, in which state, its length, how
 * often):
 *
 *   SPAWN  no payload, three descriptors attached (the worker's control
 *          and sign channels and the listening socket): the spawner
 *          forks, puts them at fds 3..5 and closes every other,
 *          becomes the worker's fixed user and group (and no other:
 *          checked), clears every capability and execs its own binary
 *          as `bulwarkd --worker`. Answer: PID (int32, the worker's pid
 *          or a negative errno).
 *   END    uint32 pid of the running worker: killed (SIGKILL, sent as
 *          the worker's user: the spawner has no CAP_KILL) and reaped
 *          (the spawner is its parent). Answer: EXIT (uint32 pid,
 *          int32 wait status).
 *
 * A frame outside the table ends the spawner (it kills and reaps its
 * worker first); so does the end of the socket, i.e. the parent's.
 * It confines itself first (hardening/spawner-sandbox.h). */
#ifndef BW_PRIVSEP_SPAWNER_H
#define BW_PRIVSEP_SPAWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum pss_type {
	PSS_SPAWN = 1,
	PSS_END = 2,
	PSS_PID = 10,
	PSS_EXIT = 11,
};

/* Forks the spawner when this process may change its user (CAP_SETUID
 * and CAP_SETGID effective), then drops both and CAP_SETPCAP from the
 * caller's effective, permitted, inheritable, ambient and bounding
 * sets. Call it before starting any thread (capabilities are per
 * thread) or opening anything. Without those capabilities it does
 * nothing: the worker then runs as this process's user. Returns 0 or a
 * negative error with *RET_ERR. */
int pss_start(char **ret_err);

/* True when a spawner runs (pss_start() made one). */
bool pss_running(void);

/* The parent's end of the spawner's channel, -1 when none runs: it is
 * readable between requests only when the spawner failed (gone, or an
 * answer nobody asked for), which the caller must treat as pss_spawn()
 * failing. */
int pss_fd(void);

/* The spawner's pid, 0 when none runs. */
pid_t pss_spawner_pid(void);

/* Has the spawner start `bulwarkd --worker` with CTL, SIGN and LISTEN
 * at fds 3, 4 and 5. Returns 0 with *RET_PID or a negative error. On
 * any error of this and pss_end() the spawner is killed and its channel
 * closed (pss_running() turns false): the caller must then exit, as a
 * new spawner cannot be started without the capabilities dropped. */
int pss_spawn(int ctl, int sign, int listen, pid_t *ret_pid, char **ret_err);

/* Has the spawner kill and reap worker PID. Returns 0 with its wait
 * status in *RET_STATUS or a negative error. */
int pss_end(pid_t pid, int *ret_status, char **ret_err);

/* Ends the spawner (its worker with it) and reaps it. */
void pss_stop(void);

/* For tests: what an admitted request would have done (TYPE, its
 * payload, how many descriptors it carried, closed after). Returns 0,
 * or a negative error that ends the reading as a refusal does. */
typedef int (*pss_test_handler)(void *arg, uint16_t type,
    const unsigned char *data, size_t len, size_t nfds);

/* For tests: reads requests from SOCK as the spawner does (its frame
 * limits, its dispatch table, its rates counted in NOW_S's seconds),
 * handing each admitted one to HANDLE instead of forking or killing,
 * until the end of SOCK or a refusal. Returns 0 at a clean end, or the
 * refusal (a negative error with *RET_ERR naming why). */
int pss_serve_test(int sock, uint64_t (*now_s)(void), pss_test_handler handle,
    void *arg, char **ret_err);

#endif
