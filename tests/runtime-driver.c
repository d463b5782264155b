/* Test driver for the runtime library: one library call per command,
 * so shell tests can compose scenarios and inspect the host between
 * steps. Also `reap -- CMD...`: runs CMD as a child subreaper that
 * reaps every orphan (shims outlive the driver invocation that made
 * them, and PID 1 on our hosts does not reap).
 *
 * Global options before the command: -s STATE -r RUN -c CNI_STATE
 * -g CGROUP_PARENT. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/cni.h"
#include "agent/runtime.h"
#include "image/image.h"
#include "lib/err.h"
#include "lib/macro.h"

static const char	*state_dir, *run_dir, *cni_state;
static const char	*cgroup_parent = "bulwark-test";

static int
die(int r, char *err)
{
	fprintf(stderr, "runtime-driver: %s (%s)\n", err ? err : "error",
	    bw_strerror(r));
	free(err);
	return 1;
}

static struct runtime *
open_rt(void)
{
	struct runtime_config	 c = { .state_dir = state_dir,
	    .run_dir = run_dir, .cgroup_parent = cgroup_parent };
	struct runtime		*rt = NULL;
	char			*err = NULL;
	int			 r;

	if ((r = runtime_open(&c, &rt, &err)) < 0) {
		die(r, err);
		exit(1);
	}
	return rt;
}

static void
print_status(const char *id, const struct runtime_status *st)
{
	if (st->phase == RUNTIME_RUNNING)
		printf("%s running pid=%d\n", id, (int)st->pid);
	else
		printf("%s exited code=%d signal=%d oom=%d start_failed=%d\n",
		    id, st->exit_code, st->signal, st->oom_killed ? 1 : 0,
		    st->start_failed ? 1 : 0);
}

/* reap -- CMD...: run CMD, reap everything, exit with CMD's status. */
static int
cmd_reap(char **argv)
{
	pid_t	child, w;
	int	st, code = 1;

	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return 1;
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	for (;;) {
		w = waitpid(-1, &st, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		if (w == child) {
			code = WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
			/* Shims still running belong to instances the
			 * test forgot: their status is not our concern,
			 * but we must not leave them unreaped. */
			break;
		}
	}
	/* Reap what already exited; leftovers are the test's failure. */
	while ((w = waitpid(-1, &st, WNOHANG)) > 0)
		;
	return code;
}

static int
cmd_container(char **argv, int argc)
{
	struct runtime_spec	 s = { .kind = RUNTIME_CONTAINER };
	const char		*caps[8] = { NULL }, *env[9] = { NULL };
	size_t			 ncaps = 0, nenv = 0;
	struct runtime		*rt;
	char			*err = NULL;
	int			 i, r;

	if (argc < 3)
		return 2;
	s.id = argv[1];
	s.rootfs = argv[2];
	for (i = 3; i < argc && strcmp(argv[i], "--"); i++) {
		if (i + 1 >= argc)
			return 2;
		if (!strcmp(argv[i], "--mem"))
			s.memory_mib = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpu"))
			s.cpu_millis = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--pids"))
			s.pids_max = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--netns"))
			s.netns_path = argv[++i];
		else if (!strcmp(argv[i], "--cap") && ncaps < 7)
			caps[ncaps++] = argv[++i];
		else if (!strcmp(argv[i], "--env") && nenv < 8)
			env[nenv++] = argv[++i];
		else
			return 2;
	}
	if (i >= argc - 1)
		return 2;
	s.argv = (const char *const *)&argv[i + 1];
	s.capabilities = ncaps ? caps : NULL;
	s.env = nenv ? env : NULL;
	rt = open_rt();
	r = runtime_create(rt, &s, &err);
	runtime_free(rt);
	if (r < 0)
		return die(r, err);
	printf("%s created\n", s.id);
	return 0;
}

static int
cmd_vm(char **argv, int argc)
{
	struct runtime_spec	 s = { .kind = RUNTIME_VM };
	struct runtime		*rt;
	char			*err = NULL, *msg = NULL;
	int			 i, r;
	bool			 probe = false;

	if (argc < 2)
		return 2;
	s.id = argv[1];
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--probe")) {
			probe = true;
			continue;
		}
		if (i + 1 >= argc)
			return 2;
		if (!strcmp(argv[i], "--mem"))
			s.memory_mib = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpu"))
			s.cpu_millis = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--kernel"))
			s.kernel = argv[++i];
		else if (!strcmp(argv[i], "--initrd"))
			s.initrd = argv[++i];
		else if (!strcmp(argv[i], "--append"))
			s.cmdline = argv[++i];
		else if (!strcmp(argv[i], "--disk"))
			s.disk = argv[++i];
		else if (!strcmp(argv[i], "--format"))
			s.disk_format = argv[++i];
		else
			return 2;
	}
	rt = open_rt();
	if (probe) {
		enum runtime_accel a = runtime_probe_accel(rt, s.kernel,
		    s.initrd, "BW-GUEST-UP", 20000, &msg);

		printf("accel=%s%s%s\n", a == RUNTIME_ACCEL_KVM ? "kvm" : "tcg",
		    msg ? " warning: " : "", msg ? msg : "");
		free(msg);
	}
	r = runtime_create(rt, &s, &err);
	runtime_free(rt);
	if (r < 0)
		return die(r, err);
	printf("%s created\n", s.id);
	return 0;
}

static int
cmd_instance(const char *cmd, char **argv, int argc)
{
	struct runtime_status	 st;
	struct runtime		*rt;
	char			*err = NULL, *path = NULL, **ids = NULL;
	int			 r = 0;

	rt = open_rt();
	if (!strcmp(cmd, "list")) {
		if ((r = runtime_list(rt, &ids, &err)) == 0) {
			for (char **p = ids; *p; p++)
				printf("%s\n", *p);
			runtime_list_free(ids);
		}
	} else if (argc < 2)
		r = -BW_E_INVALID;
	else if (!strcmp(cmd, "status")) {
		if ((r = runtime_status(rt, argv[1], &st, &err)) == 0)
			print_status(argv[1], &st);
	} else if (!strcmp(cmd, "wait")) {
		r = runtime_wait(rt, argv[1], argc > 2 ? atoi(argv[2]) : 30000,
		    &st, &err);
		if (r == 0)
			print_status(argv[1], &st);
	} else if (!strcmp(cmd, "stop")) {
		r = runtime_stop(rt, argv[1], argc > 2 ? atoi(argv[2]) : 5000,
		    &err);
		if (r >= 0)
			printf("%s %s\n", argv[1], r ? "stopped-gracefully" :
			    "killed");
	} else if (!strcmp(cmd, "restart")) {
		if ((r = runtime_restart(rt, argv[1], &err)) == 0)
			printf("%s restarted\n", argv[1]);
	} else if (!strcmp(cmd, "delete")) {
		if ((r = runtime_delete(rt, argv[1], &err)) == 0)
			printf("%s deleted\n", argv[1]);
	} else if (!strcmp(cmd, "log")) {
		if ((r = runtime_log_path(rt, argv[1], &path)) == 0) {
			printf("%s\n", path);
			free(path);
		}
	} else
		r = -BW_E_INVALID;
	runtime_free(rt);
	if (r < 0)
		return die(r, err);
	return 0;
}

static int
cmd_net(const char *cmd, char **argv, int argc)
{
	struct cni_config	 c = { .state_dir = cni_state };
	struct cni_network	 n = { 0 };
	struct cni_attachment	 a;
	char			*err = NULL, br[CNI_BRIDGE_MAX + 1];
	int			 r;

	if (!strcmp(cmd, "net-teardown")) {
		if ((r = cni_teardown(&err)) < 0)
			return die(r, err);
		return 0;
	}
	if (argc < 2)
		return 2;
	n.tenant = argv[1];
	n.subnet = argc > 2 ? argv[2] : NULL;
	if (!strcmp(cmd, "net-bridge")) {
		if (cni_bridge_name(n.tenant, br) < 0)
			return 2;
		printf("%s\n", br);
		return 0;
	}
	if (!strcmp(cmd, "net-delete")) {
		if ((r = cni_network_delete(&c, n.tenant, &err)) < 0)
			return die(r, err);
		return 0;
	}
	if (argc < 4)
		return 2;
	if (!strcmp(cmd, "net-attach")) {
		/* as the agent does: the instance's user namespace first,
		 * its network namespace inside it */
		struct runtime	*rt = open_rt();
		char		*userns = NULL;

		r = runtime_userns_prepare(rt, argv[3], &userns, &err);
		runtime_free(rt);
		if (r < 0)
			return die(r, err);
		n.userns_path = userns;
		r = cni_attach(&c, &n, argv[3], &a, &err);
		free(userns);
		if (r < 0)
			return die(r, err);
		printf("%s %s\n", a.netns_path, a.address);
		cni_attachment_done(&a);
	} else if (!strcmp(cmd, "net-check")) {
		if ((r = cni_check(&c, &n, argv[3], &err)) < 0)
			return die(r, err);
	} else if (!strcmp(cmd, "net-detach")) {
		if ((r = cni_detach(&c, &n, argv[3], &err)) < 0)
			return die(r, err);
	} else
		return 2;
	return 0;
}

static int
cmd_image(const char *cmd, char **argv, int argc)
{
	struct image_store	*s = NULL;
	struct image_info	 i;
	char			*err = NULL;
	int			 r;

	if (!strcmp(cmd, "sign")) {
		if (argc < 3)
			return 2;
		if ((r = image_sign(argv[1], argv[2], &err)) < 0)
			return die(r, err);
		return 0;
	}
	/* image-import STORE TRUST rootfs|disk FILE [DIGEST] */
	if (argc < 5)
		return 2;
	if ((r = image_store_open(argv[1], argv[2], NULL, &s, &err)) < 0)
		return die(r, err);
	r = image_import(s, !strcmp(argv[3], "disk") ? IMAGE_DISK :
	    IMAGE_ROOTFS, argv[4], argc > 5 ? argv[5] : NULL, &i, &err);
	image_store_free(s);
	if (r < 0)
		return die(r, err);
	printf("%s %s %s\n", i.digest, i.signer, i.path);
	image_info_done(&i);
	return 0;
}

int
main(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "+s:r:c:g:")) != -1) {
		switch (opt) {
		case 'g':
			cgroup_parent = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'r':
			run_dir = optarg;
			break;
		case 'c':
			cni_state = optarg;
			break;
		default:
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[0], "reap") && argc > 2 && !strcmp(argv[1], "--"))
		return cmd_reap(argv + 2);
	if (!strcmp(argv[0], "create"))
		return cmd_container(argv, argc);
	if (!strcmp(argv[0], "vm-create"))
		return cmd_vm(argv, argc);
	if (!strncmp(argv[0], "net-", 4))
		return cmd_net(argv[0], argv, argc);
	if (!strcmp(argv[0], "sign") || !strcmp(argv[0], "image-import"))
		return cmd_image(argv[0], argv, argc);
	return cmd_instance(argv[0], argv, argc);
}
