/* CNI tenant networks and their nftables isolation; see cni.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent/cni.h"
#include "agent/runtime.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/runtime-exec.h"

#define IP_BIN		"/usr/sbin/ip"
#define NFT_BIN		"/usr/sbin/nft"
#define NETNS_DIR	"/run/netns"
#define RESULT_MAX	(256 * 1024)

static const char nft_table[] =
	"table inet bulwark {\n"
	"  set bridges { type ifname; }\n"
	"  set same { type ifname . ifname; }\n"
	"  chain forward {\n"
	"    type filter hook forward priority filter; policy accept;\n"
	"    iifname . oifname @same accept\n"
	"    iifname @bridges oifname @bridges drop\n"
	"  }\n"
	"  chain input {\n"
	"    type filter hook input priority filter; policy accept;\n"
	/* A tenant reaches the host only at its own bridge's
	 * addresses: not the gateways of other tenants, not the node. */
	"    iifname @bridges fib daddr . iif type != { local, broadcast, "
	"multicast } drop\n"
	"  }\n"
	"}\n";

static const char *
plugin_dir(const struct cni_config *c)
{
	return c && c->plugin_dir ? c->plugin_dir : "/usr/lib/cni";
}

static const char *
state_dir(const struct cni_config *c)
{
	return c && c->state_dir ? c->state_dir : "/var/lib/bulwark/cni";
}

void
cni_attachment_done(struct cni_attachment *a)
{
	if (!a)
		return;
	free(a->netns_path);
	free(a->address);
	free(a->gateway);
	memset(a, 0, sizeof(*a));
}

static int
check_tenant(const char *t, char **ret_err)
{
	size_t n = t ? strlen(t) : 0;

	if (n == 0 || n > CNI_TENANT_MAX)
		return errf(-BW_E_INVALID, ret_err, "tenant: 1..%d characters",
		    CNI_TENANT_MAX);
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') ||
		    (t[i] >= '0' && t[i] <= '9') || t[i] == '-'))
			return errf(-BW_E_INVALID, ret_err,
			    "tenant: only [a-z0-9-]");
	return 0;
}

static int
check_subnet(const char *s, char **ret_err)
{
	char		 addr[INET_ADDRSTRLEN];
	struct in_addr	 in;
	const char	*slash = s ? strchr(s, '/') : NULL;
	char		*end;
	long		 prefix;

	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return errf(-BW_E_INVALID, ret_err,
		    "subnet: must be an IPv4 CIDR");
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	errno = 0;
	prefix = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, addr, &in) != 1 || errno || *end ||
	    prefix < 8 || prefix > 29)
		return errf(-BW_E_INVALID, ret_err,
		    "subnet: must be an IPv4 CIDR with a /8../29 prefix");
	return 0;
}

/* Checks N's tenant, its subnet when SUBNET, and instance ID. */
static int
check_args(const struct cni_network *n, bool subnet, const char *id,
    char **ret_err)
{
	int r;

	if ((r = check_tenant(n->tenant, ret_err)) < 0 ||
	    (subnet && (r = check_subnet(n->subnet, ret_err)) < 0) ||
	    (r = runtime_check_id(id, ret_err)) < 0)
		return r;
	return 0;
}

int
cni_bridge_name(const char *tenant, char buf[CNI_BRIDGE_MAX + 1])
{
	unsigned char	d[32];
	unsigned	len;

	if (check_tenant(tenant, NULL) < 0)
		return -BW_E_INVALID;
	if (!EVP_Digest(tenant, strlen(tenant), d, &len, EVP_sha256(), NULL))
		return -BW_E_CRYPTO;
	memcpy(buf, "bw", 2);
	hex_encode(d, 4, buf + 2);
	return 0;
}

static int
nft(const char *script, char **ret_err)
{
	const char *const argv[] = { NFT_BIN, "-f", "-", NULL };
	struct runtime_exec_opts o = { .stdout_fd = -1, .input = script,
	    .input_len = strlen(script), .timeout_ms = 30000 };

	return runtime_run(argv, &o, NULL, ret_err);
}

int
cni_nft_run(const char *script, char **ret_err)
{
	return nft(script, ret_err);
}

/* Whether our nftables table exists: 1, 0, or a negative error. */
static int
nft_has_table(char **ret_err)
{
	const char *const argv[] = { NFT_BIN, "list", "table", "inet",
	    "bulwark", NULL };
	int status, r;

	r = runtime_exec(argv, NULL, &status, NULL, NULL);
	if (r < 0)
		return errf(r, ret_err, "nft: %s", bw_strerror(r));
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int
nft_ensure(char **ret_err)
{
	int r;

	if ((r = nft_has_table(ret_err)) != 0)
		return r < 0 ? r : 0;
	return nft(nft_table, ret_err);
}

static int
net_config(const struct cni_config *c, const struct cni_network *n,
    json_t *prev, char **ret_text)
{
	_cleanup_json_ json_t	*o = NULL;
	_cleanup_free_ char	*name = NULL, *ipam = NULL;
	char			 br[CNI_BRIDGE_MAX + 1];

	if (cni_bridge_name(n->tenant, br) < 0)
		return -BW_E_INVALID;
	if (asprintf(&name, "bw-%s", n->tenant) < 0 ||
	    asprintf(&ipam, "%s/ipam", state_dir(c)) < 0)
		return -ENOMEM;
	o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:b,"
	    " s:{s:s, s:[[{s:s}]], s:[{s:s}], s:s}}",
	    "cniVersion", "1.0.0", "name", name, "type", "bridge", "bridge", br,
	    "isGateway", 1, "ipMasq", 0, "hairpinMode", 0, "promiscMode", 0,
	    "ipam", "type", "host-local", "ranges", "subnet", n->subnet,
	    "routes", "dst", "0.0.0.0/0", "dataDir", ipam);
	if (!o || (prev && json_object_set(o, "prevResult", prev) < 0))
		return -ENOMEM;
	*ret_text = json_dumps(o, JSON_COMPACT);
	return *ret_text ? 0 : -ENOMEM;
}

/* Runs the bridge plugin with COMMAND for instance ID. */
static int
plugin(const struct cni_config *c, const struct cni_network *n,
    const char *command, const char *id, json_t *prev, char **ret_out,
    char **ret_err)
{
	_cleanup_free_ char	*cfg = NULL, *bin = NULL, *e_cmd = NULL;
	_cleanup_free_ char	*e_id = NULL, *e_ns = NULL, *e_path = NULL;
	int			 r;

	if ((r = net_config(c, n, prev, &cfg)) < 0)
		return r;
	if (asprintf(&bin, "%s/bridge", plugin_dir(c)) < 0 ||
	    asprintf(&e_cmd, "CNI_COMMAND=%s", command) < 0 ||
	    asprintf(&e_id, "CNI_CONTAINERID=" RUNTIME_PREFIX "%s", id) < 0 ||
	    asprintf(&e_ns, "CNI_NETNS=" NETNS_DIR "/" RUNTIME_PREFIX "%s",
	    id) < 0 ||
	    asprintf(&e_path, "CNI_PATH=%s", plugin_dir(c)) < 0)
		return -ENOMEM;
	{
		const char *const argv[] = { bin, NULL };
		const char *const envp[] = { e_cmd, e_id, e_ns,
		    "CNI_IFNAME=eth0", e_path,
		    "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
		struct runtime_exec_opts o = { .stdout_fd = -1, .envp = envp,
		    .input = cfg, .input_len = strlen(cfg),
		    .timeout_ms = 30000 };

		return runtime_run(argv, &o, ret_out, ret_err);
	}
}

static int
result_path(const struct cni_config *c, const char *id, char **ret)
{
	return asprintf(ret, "%s/results/%s.json", state_dir(c), id) < 0 ?
	    -ENOMEM : 0;
}

static int
load_result(const struct cni_config *c, const char *id, json_t **ret,
    char **ret_err)
{
	_cleanup_free_ char	*p = NULL, *text = NULL;
	size_t			 len;
	int			 r;

	if (result_path(c, id, &p) < 0)
		return -ENOMEM;
	r = read_file_at(AT_FDCWD, p, RESULT_MAX, &text, &len);
	if (r < 0)
		return r;
	return json_parse_bounded(text, len, BW_JSON_MAX_DEPTH, ret, ret_err);
}

static int
netns_path(const char *id, char **ret)
{
	return asprintf(ret, NETNS_DIR "/" RUNTIME_PREFIX "%s", id) < 0 ?
	    -ENOMEM : 0;
}

int
cni_netns_path(const char *id, char **ret)
{
	return netns_path(id, ret);
}

/* Removes netns bw-ID as `ip netns delete` does: detach the bind
 * mount that keeps the namespace alive, then remove the file. */
static int
netns_delete(const char *id, char **ret_err)
{
	_cleanup_free_ char *p = NULL;

	if (netns_path(id, &p) < 0)
		return -ENOMEM;
	if (access(p, F_OK) < 0)
		return 0;
	/* EINVAL: the file is there but nothing is mounted on it (a
	 * creation that failed half-way). */
	if (umount2(p, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return errf(-errno, ret_err, "%s: %s", p, strerror(errno));
	if (unlink(p) < 0 && errno != ENOENT)
		return errf(-errno, ret_err, "%s: %s", p, strerror(errno));
	return 0;
}

/* NETNS_DIR as a shared mount point, as ip-netns(8) makes it: a
 * namespace mounted there is then seen from every mount namespace,
 * crun's included. */
static int
netns_dir_ready(char **ret_err)
{
	int r;

	if ((r = mkdir_p(NETNS_DIR, 0755)) < 0)
		return errf(r, ret_err, "%s: %s", NETNS_DIR, bw_strerror(r));
	if (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL ||
	    mount(NETNS_DIR, NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
	    mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
		return errf(-errno, ret_err, "%s: cannot make it a shared mount: "
		    "%s", NETNS_DIR, strerror(errno));
	return 0;
}

/* The namespace is made on a thread of its own: unshare() moves only
 * the calling thread, which then bind-mounts its namespace on the file
 * (that mount keeps it alive after the thread ends) and sets its
 * loopback up. No `ip` process: this is on every container's start. */
struct netns_job {
	const char	*path;
	const char	*step;
	int		 r;
};

static void *
netns_thread(void *arg)
{
	struct netns_job	*j = arg;
	struct ifreq		 ifr;
	int			 fd;

	j->step = "unshare";
	if (unshare(CLONE_NEWNET) < 0)
		goto fail;
	j->step = "bind mount";
	if (mount("/proc/thread-self/ns/net", j->path, "none", MS_BIND,
	    NULL) < 0)
		goto fail;
	/* A socket made now belongs to the new namespace. */
	j->step = "loopback up";
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		goto fail;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		close(fd);
		goto fail;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		close(fd);
		goto fail;
	}
	close(fd);
	j->r = 0;
	return NULL;
fail:
	j->r = -errno;
	return NULL;
}

/* Makes the namespace inside the user namespace USERNS (owned by it):
 * a forked child (setns into a user namespace needs a single-threaded
 * process) enters USERNS, unshares its network namespace and sets its
 * loopback up; the parent, root of the host, bind-mounts the child's
 * namespace on PATH. The child makes async-signal-safe calls only. */
static int
netns_create_in(const char *path, const char *userns, const char **ret_step)
{
	_cleanup_close_ int	 ufd = -1;
	struct runtime_nschild	 c;
	char			 nsp[64];
	int			 r;

	*ret_step = "open user namespace";
	if ((ufd = open(userns, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if ((r = runtime_nschild_fork(&c, ret_step)) == 0) {
		struct ifreq	ifr;
		int		fd;

		if (setns(ufd, CLONE_NEWUSER) < 0 || unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
			_exit(2);
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, "lo", 3);
		if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
			_exit(2);
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			_exit(2);
		/* until the parent has its namespace mounted */
		runtime_nschild_ready(&c);
	}
	if (r > 0) {
		*ret_step = "unshare in the user namespace";
		if ((r = runtime_nschild_wait(&c)) == 0) {
			*ret_step = "bind mount";
			snprintf(nsp, sizeof(nsp), "/proc/%d/ns/net",
			    (int)c.pid);
			if (mount(nsp, path, "none", MS_BIND, NULL) < 0)
				r = -errno;
		}
	}
	runtime_nschild_end(&c);
	return r;
}

static int
netns_create(const char *id, const char *path, const char *userns,
    char **ret_err)
{
	struct netns_job	 j = { .path = path, .r = -BW_E_UNAVAILABLE };
	pthread_t		 t;
	int			 fd, r;

	if ((r = netns_dir_ready(ret_err)) < 0)
		return r;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0) {
		if (errno == EEXIST)
			return errf(-BW_E_EXISTS, ret_err, "network namespace "
			    "%s exists", path);
		return errf(-errno, ret_err, "%s: %s", path, strerror(errno));
	}
	close(fd);
	if (userns) {
		j.r = netns_create_in(path, userns, &j.step);
	} else {
		if ((r = -pthread_create(&t, NULL, netns_thread, &j)) < 0) {
			(void)unlink(path);
			return errf(r, ret_err, "network namespace %s: %s",
			    path, bw_strerror(r));
		}
		pthread_join(t, NULL);
	}
	if (j.r < 0) {
		(void)netns_delete(id, NULL);
		return errf(j.r, ret_err, "network namespace %s: %s: %s", path,
		    j.step, bw_strerror(j.r));
	}
	return 0;
}

int
cni_prepare(const struct cni_config *c, const struct cni_network *n,
    const char *id, char **ret_netns, char **ret_err)
{
	_cleanup_free_ char	*ns = NULL, *dir = NULL;
	int			 r;

	if ((r = check_args(n, true, id, ret_err)) < 0)
		return r;
	if (asprintf(&dir, "%s/results", state_dir(c)) < 0 ||
	    netns_path(id, &ns) < 0)
		return -ENOMEM;
	if ((r = mkdir_p(dir, 0700)) < 0)
		return errf(r, ret_err, "%s: %s", dir, bw_strerror(r));
	if ((r = netns_create(id, ns, n->userns_path, ret_err)) < 0)
		return r;
	*ret_netns = TAKE_PTR(ns);
	return 0;
}

/* Puts a bridge into the isolation sets (SCRIPT); the table is made
 * only when adding to it fails, as it usually exists. */
static int
isolate(const char *script, char **ret_err)
{
	int r;

	if (nft(script, NULL) < 0 &&
	    ((r = nft_ensure(ret_err)) < 0 || (r = nft(script, ret_err)) < 0))
		return r;
	return 0;
}

struct isolate_job {
	const char	*script;
	char		*err;
	int		 r;
};

static void *
isolate_thread(void *arg)
{
	struct isolate_job *j = arg;

	j->r = isolate(j->script, &j->err);
	return NULL;
}

int
cni_connect(const struct cni_config *c, const struct cni_network *n,
    const char *id, struct cni_attachment *ret, char **ret_err)
{
	_cleanup_free_ char	*out = NULL, *ns = NULL, *rp = NULL;
	_cleanup_free_ char	*script = NULL;
	_cleanup_json_ json_t	*res = NULL;
	struct cni_attachment	 a = { NULL, NULL, NULL };
	const char		*addr = NULL, *gw = NULL;
	char			 br[CNI_BRIDGE_MAX + 1];
	int			 r;

	if ((r = check_args(n, true, id, ret_err)) < 0)
		return r;
	if (cni_bridge_name(n->tenant, br) < 0)
		return -BW_E_INVALID;
	if (netns_path(id, &ns) < 0 || result_path(c, id, &rp) < 0)
		return -ENOMEM;
	/* Isolation first: no instance is ever attached to a bridge
	 * that is not in the sets. */
	if (asprintf(&script, "add element inet bulwark bridges { \"%s\" }\n"
	    "add element inet bulwark same { \"%s\" . \"%s\" }\n", br, br,
	    br) < 0)
		return -ENOMEM;
	if (if_nametoindex(br) > 0) {
		/* The bridge exists, so its elements went in before its
		 * first attachment: adding them again (in case the table
		 * was lost) may run alongside the plugin. Both are done
		 * before the container's process starts. */
		struct isolate_job	 j = { .script = script };
		pthread_t		 t;

		if ((r = -pthread_create(&t, NULL, isolate_thread, &j)) < 0)
			return errf(r, ret_err, "isolation: %s",
			    bw_strerror(r));
		r = plugin(c, n, "ADD", id, NULL, &out, ret_err);
		pthread_join(t, NULL);
		if (r < 0) {
			free(j.err);
			return r;
		}
		if (j.r < 0) {
			r = errf(j.r, ret_err, "%s", j.err ? j.err :
			    bw_strerror(j.r));
			free(j.err);
			goto fail_del;
		}
	} else {
		if ((r = isolate(script, ret_err)) < 0)
			return r;
		if ((r = plugin(c, n, "ADD", id, NULL, &out, ret_err)) < 0)
			return r;
	}
	if ((r = json_parse_bounded(out, strlen(out), BW_JSON_MAX_DEPTH, &res,
	    ret_err)) < 0)
		goto fail_del;
	if (json_unpack(res, "{s:[{s:s, s?s}]}", "ips", "address", &addr,
	    "gateway", &gw) < 0) {
		r = errf(-BW_E_UNAVAILABLE, ret_err,
		    "bridge plugin: result without an address");
		goto fail_del;
	}
	if ((r = write_file_atomic_at(AT_FDCWD, rp, out, strlen(out),
	    0600)) < 0) {
		errf(r, ret_err, "%s: %s", rp, bw_strerror(r));
		goto fail_del;
	}
	a.netns_path = TAKE_PTR(ns);
	a.address = strdup(addr);
	a.gateway = gw ? strdup(gw) : NULL;
	if (!a.address || (gw && !a.gateway)) {
		cni_attachment_done(&a);
		return -ENOMEM;
	}
	*ret = a;
	return 0;
fail_del:
	(void)plugin(c, n, "DEL", id, NULL, NULL, NULL);
	return r;
}

int
cni_attach(const struct cni_config *c, const struct cni_network *n,
    const char *id, struct cni_attachment *ret, char **ret_err)
{
	_cleanup_free_ char	*ns = NULL;
	int			 r;

	if ((r = cni_prepare(c, n, id, &ns, ret_err)) < 0)
		return r;
	if ((r = cni_connect(c, n, id, ret, ret_err)) < 0)
		(void)netns_delete(id, NULL);
	return r;
}

int
cni_check(const struct cni_config *c, const struct cni_network *n,
    const char *id, char **ret_err)
{
	_cleanup_json_ json_t	*prev = NULL;
	int			 r;

	if ((r = check_args(n, false, id, ret_err)) < 0)
		return r;
	if ((r = load_result(c, id, &prev, ret_err)) < 0)
		return errf_wrap(r, ret_err, "instance %s: no attachment", id);
	return plugin(c, n, "CHECK", id, prev, NULL, ret_err);
}

int
cni_detach(const struct cni_config *c, const struct cni_network *n,
    const char *id, char **ret_err)
{
	_cleanup_json_ json_t	*prev = NULL;
	_cleanup_free_ char	*rp = NULL;
	int			 r;

	if ((r = check_args(n, false, id, ret_err)) < 0)
		return r;
	if (result_path(c, id, &rp) < 0)
		return -ENOMEM;
	(void)load_result(c, id, &prev, NULL);
	/* DEL must succeed even when parts are gone (CNI spec), so it
	 * is safe to repeat. */
	if ((r = plugin(c, n, "DEL", id, prev, NULL, ret_err)) < 0)
		return r;
	if ((r = netns_delete(id, ret_err)) < 0)
		return r;
	if (unlink(rp) < 0 && errno != ENOENT)
		return errf(-errno, ret_err, "%s: %s", rp, strerror(errno));
	return 0;
}

int
cni_network_delete(const struct cni_config *c, const char *tenant,
    char **ret_err)
{
	_cleanup_free_ char	*ipam = NULL, *script = NULL;
	char			 br[CNI_BRIDGE_MAX + 1];
	int			 r;

	if ((r = check_tenant(tenant, ret_err)) < 0)
		return r;
	if (cni_bridge_name(tenant, br) < 0)
		return -BW_E_INVALID;
	if (asprintf(&ipam, "%s/ipam/bw-%s", state_dir(c), tenant) < 0)
		return -ENOMEM;
	{
		/* Asked over netlink, not /sys: sysfs shows the netns of
		 * whoever mounted it, not necessarily ours. */
		const char *const show[] = { IP_BIN, "link", "show", "dev", br,
		    NULL };
		const char *const del[] = { IP_BIN, "link", "delete", br,
		    NULL };
		int status;

		if ((r = runtime_exec(show, NULL, &status, NULL, NULL)) < 0)
			return errf(r, ret_err, "ip: %s", bw_strerror(r));
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		    (r = runtime_run(del, NULL, NULL, ret_err)) < 0)
			return r;
	}
	if (asprintf(&script, "delete element inet bulwark bridges { \"%s\" }\n"
	    "delete element inet bulwark same { \"%s\" . \"%s\" }\n", br, br,
	    br) < 0)
		return -ENOMEM;
	/* Absent elements (a repeated delete) make nft fail: harmless. */
	(void)nft(script, NULL);
	{
		const char *const argv[] = { "/usr/bin/rm", "-rf", "--", ipam,
		    NULL };

		if ((r = runtime_run(argv, NULL, NULL, ret_err)) < 0)
			return r;
	}
	return 0;
}

int
cni_teardown(char **ret_err)
{
	int r;

	if ((r = nft_has_table(ret_err)) <= 0)
		return r;
	return nft("delete table inet bulwark\n", ret_err);
}
