/* OCI runtime configuration (config.json) for tenant containers,
 * hardened by default: own pid, mount, network, uts and ipc
 * namespaces; a read-only root; no_new_privileges; no capabilities
 * beyond an explicit allow-list; a seccomp deny-list; cgroup limits
 * for cpu, memory (no swap) and pids; a private writable /tmp. */
#ifndef BW_OCI_H
#define BW_OCI_H

#include <stdint.h>

#include <jansson.h>

#define OCI_CPU_PERIOD_US	100000
#define OCI_DEFAULT_PIDS	512
#define OCI_DEFAULT_TMP_MIB	64
#define OCI_ARGS_MAX		256
#define OCI_ENV_MAX		256
#define OCI_CAPS_MAX		41

struct oci_spec {
	const char		*hostname;	/* NULL: "instance" */
	const char		*rootfs;	/* absolute path, mounted read-only */
	const char *const	*argv;		/* NULL-terminated, non-empty */
	const char *const	*env;		/* "K=V"; NULL: PATH only */
	const char		*cwd;		/* NULL: "/" */
	uint32_t		 uid, gid;
	const char *const	*capabilities;	/* "CAP_NET_RAW", ...; NULL: none */
	const char		*netns_path;	/* NULL: a new, empty netns */
	const char		*cgroups_path;	/* "/bulwark/ID" */
	unsigned		 cpu_millis;	/* 0: no cpu limit */
	unsigned		 memory_mib;	/* 0: no memory limit */
	unsigned		 pids_max;	/* 0: OCI_DEFAULT_PIDS */
	unsigned		 tmp_mib;	/* 0: OCI_DEFAULT_TMP_MIB */
};

/* Builds the config for S into *RET (caller decrefs). Returns 0 or
 * -BW_E_INVALID with a message naming the field. */
int oci_config_build(const struct oci_spec *s, json_t **ret, char **ret_err);

/* Returns 0 when NAME is a Linux capability name ("CAP_..."), else
 * -BW_E_INVALID. */
int oci_check_capability(const char *name);

#endif
