/* OCI runtime configuration (config.json) for tenant containers,
 * hardened by default: own pid, mount, network, uts and ipc
 * namespaces; a user namespace mapping the container's ids 0..65535
 * to an unprivileged host range; a read-only root; no_new_privileges;
 * no capabilities beyond an explicit allow-list; a seccomp deny-list;
 * cgroup limits for cpu, memory (no swap) and pids; a private writable
 * /tmp. */
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
#define OCI_IDMAP_DIRS_MAX	64

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
	/* User namespace: container ids 0..userns_size-1 are host ids
	 * userns_host..; userns_size 0: none (the host's ids). */
	uint32_t		 userns_host, userns_size;
	/* A user namespace made beforehand with that map (joined), or
	 * NULL: crun makes one. */
	const char		*userns_path;
	/* Top-level directories of the root file system (names, NULL-
	 * terminated) bind-mounted onto themselves read-only and idmapped
	 * to the user namespace: the image's files, owned by host ids, are
	 * the container's own ids inside (a 0600 file of host root is
	 * readable to the container's root). */
	const char *const	*idmap_dirs;
	/* A volume's data directory (absolute) mounted read-write at
	 * VOLUME_DST (absolute, present in the image: the root is
	 * read-only), idmapped like idmap_dirs; NULL: none. */
	const char		*volume_src;
	const char		*volume_dst;
};

/* Builds the config for S into *RET (caller decrefs). Returns 0 or
 * -BW_E_INVALID with a message naming the field. */
int oci_config_build(const struct oci_spec *s, json_t **ret, char **ret_err);

/* Returns 0 when NAME is a Linux capability name ("CAP_..."), else
 * -BW_E_INVALID. */
int oci_check_capability(const char *name);

#endif
