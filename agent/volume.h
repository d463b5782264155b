/* Tenant volumes on a node (docs/storage.md): each volume a sparse
 * backing file holding an ext4 file system made with the "encrypt"
 * feature, loop-mounted by the agent, whose data directory has an
 * fscrypt v2 policy (AES-256-XTS contents, AES-256-CTS names) under a
 * random 64-byte key of its own. That key exists on disk only wrapped
 * (AES-256-GCM, bound to the tenant, name and uid of the volume) under
 * its tenant's key, a random 32-byte key per tenant and node wrapped
 * (AES-256-GCM, bound to the tenant's name) under the node's volume
 * key, which the TPM seals to the node's boot PCRs; in the kernel only
 * while the volume is attached. Deleting a volume removes its key from
 * the kernel and wipes the wrapped key before the backing file goes, so
 * a saved copy of the backing file cannot be decrypted even with the
 * node's TPM; deleting a tenant's last volume on the node wipes the
 * tenant's key too (crypto-erase of the tenant).
 *
 * Layout: STATE_DIR/volumes/kek.sealed, STATE_DIR/volumes/tenants/
 * TENANT.key, and STATE_DIR/volumes/UID/
 * {volume.json, key.wrapped, backing.img, mnt/, restored,
 * snapshots/SUID.img} per volume (UID the Volume's metadata.uid, SUID a
 * VolumeSnapshot's). A snapshot is a copy of the backing file (a reflink
 * where the file system can), so it is encrypted under the volume's own
 * key and dies with it. */
#ifndef BW_VOLUME_H
#define BW_VOLUME_H

#include <stdbool.h>

struct tpm;
struct volume_kek;

/* The boot PCRs the node's volume key is sealed to: firmware (0),
 * option ROMs (2), boot loader (4), secure boot state (7). Not PCR 13:
 * bulwarkd's configuration must not lock the node's volumes. */
#define VOLUME_KEK_PCRS	((1u << 0) | (1u << 2) | (1u << 4) | (1u << 7))
#define VOLUME_KEY_LEN	64	/* AES-256-XTS: two 256-bit keys */

/* Unseals STATE_DIR/volumes/kek.sealed with TPM, or makes a new random
 * node volume key and seals it there when none exists yet. *RET (free
 * with volume_kek_free()) holds it in locked memory. Returns 0 or a
 * negative error with *RET_ERR. */
int volume_kek_open(struct tpm *tpm, const char *state_dir,
    struct volume_kek **ret, char **ret_err);
/* A random node volume key sealed nowhere, into *RET: for benchmarks
 * and tests without a TPM; the agent never uses one. */
int volume_kek_ephemeral(struct volume_kek **ret);

/* Wipes and frees K (NULL allowed). */
void volume_kek_free(struct volume_kek *k);

struct volume_ref {
	const char	*tenant, *name;
	const char	*uid;		/* metadata.uid: [0-9a-f-]{1,64} */
	long long	 size_bytes;
	/* a snapshot of it (its uid) to restore before it is mounted,
	 * unless it was the last one restored; NULL: none */
	const char	*restore_uid;
};

/* 0 when UID is a volume uid ([0-9a-f-]{1,64}), else -BW_E_INVALID
 * with *RET_ERR. */
int volume_check_uid(const char *uid, char **ret_err);

/* Attaches V on this node: on first use makes its backing file, file
 * system and key; restores V->restore_uid if asked; mounts it (nosuid,
 * nodev), puts its key into the kernel and sets the data directory's
 * policy. *RET_DATA (caller frees) is the data directory to bind into a
 * container. Idempotent. Returns 1 when it restored a snapshot, 0, or a
 * negative error: -EBUSY, neither restoring nor mounting, while the file
 * system of an earlier attach is not released (volume_detach()). */
int volume_attach(const char *state_dir, const struct volume_kek *kek,
    const struct volume_ref *v, char **ret_data, char **ret_err);

/* Makes sure DATA (a data directory volume_attach() returned) holds
 * the raw disk a VM sees of the volume, VOLUME_DISK_NAME, sparse, of
 * the volume's size less what its file system needs
 * (VOLUME_DISK_RESERVE); *RET_PATH (caller frees) is its path. */
#define VOLUME_DISK_NAME	"disk.raw"
#define VOLUME_DISK_RESERVE	(8LL << 20)
int volume_disk(const char *data, long long size_bytes, char **ret_path,
    char **ret_err);

/* Removes volume UID's key from the kernel and unmounts it, then waits
 * (up to 2 s) for its file system to be released: no loop device bound
 * to its backing file any more. A mount of it in another mount
 * namespace keeps the file system alive after the host's is gone;
 * -EBUSY then, with *RET_ERR "waiting for the file system to be
 * released: ...", and a later call (unmounted by now) only waits again.
 * 0 once detached, or when it never was attached. */
int volume_detach(const char *state_dir, const char *uid, char **ret_err);

/* Crypto-erase, then the data: detaches volume UID, wipes its wrapped
 * key (overwritten, synced, unlinked), then discards the backing file
 * and its directory; then its tenant's key when no other volume of the
 * tenant is left here (volume_tenant_erase_unused()). Idempotent. */
int volume_delete(const char *state_dir, const char *uid, char **ret_err);

/* Takes snapshot SUID of volume UID unless it exists: a copy of the
 * backing file, made while the file system is frozen when the volume is
 * attached; -EBUSY while a detached one's is not released yet.
 * *RET_BYTES: the snapshot's size. */
int volume_snapshot_take(const char *state_dir, const char *uid,
    const char *suid, long long *ret_bytes, char **ret_err);

/* Whether snapshot SUID of volume UID exists on this node. */
bool volume_snapshot_exists(const char *state_dir, const char *uid,
    const char *suid);

/* Removes snapshot SUID of volume UID. */
int volume_snapshot_delete(const char *state_dir, const char *uid,
    const char *suid);

/* The snapshots of volume UID (their SUIDs) like volume_list(). */
int volume_snapshot_list(const char *state_dir, const char *uid,
    char ***ret);

/* Crypto-erases TENANT on this node when none of its volumes is left
 * here: wipes its wrapped key (overwritten, synced, unlinked), so no
 * saved copy of any of its volumes or of their wrapped keys decrypts,
 * even with the node's TPM. volume_delete() calls it. Returns 1 when it
 * wiped the key, 0 when there was none or a volume still needs it, or a
 * negative error. */
int volume_tenant_erase_unused(const char *state_dir, const char *tenant);

/* volume_tenant_erase_unused() for every tenant key on this node: wipes
 * the keys no volume here needs (a tenant's last volume deleted, a first
 * attach that failed before the volume was made). Not while a volume is
 * being made (the agent calls both from its one reconcile thread).
 * Returns how many keys it wiped, or a negative error. */
int volume_tenants_gc(const char *state_dir);

/* Whether volume UID is mounted on this node. */
bool volume_attached(const char *state_dir, const char *uid);

/* 0 when volume UID is neither mounted on this node nor its file
 * system alive elsewhere (a loop device still bound to its backing
 * file), so that it may be deleted; -EBUSY when it is either; another
 * negative error with *RET_ERR when that cannot be told (the loop
 * devices cannot be asked). Does not wait. */
int volume_released(const char *state_dir, const char *uid, char **ret_err);

/* The UIDs of the volumes this node holds (NULL-terminated, free with
 * runtime_list_free()), with their tenant and name from volume.json
 * read by volume_owner(). */
int volume_list(const char *state_dir, char ***ret);

/* Reads volume UID's tenant and name into the buffers (64 bytes each). */
int volume_owner(const char *state_dir, const char *uid, char *tenant,
    char *name);

#endif
