/* Image management endpoints of bulwarkd (system-admin only):
 * `POST /v1/image-import {"path","type","digest"?}` imports an image
 * from local media (under an import root) after checking its digest and
 * detached signature, and records an Image object; refusals are
 * audited. `POST /v1/image-trust {"name","pem"}` adds a trusted signing
 * key. There is no registry: images arrive on local media. */
#ifndef BW_IMAGE_API_H
#define BW_IMAGE_API_H

#include <limits.h>
#include <pthread.h>

#include "controlplane/api.h"
#include "controlplane/authz.h"
#include "image/image.h"

#define IMAGE_API_ROOTS_MAX	8

struct image_api {
	struct image_store	*store;
	char			 trust_dir[PATH_MAX];
	char			 roots[IMAGE_API_ROOTS_MAX][PATH_MAX];
	size_t			 n_roots;
	/* held by the offload worker running an import (one at a time) */
	pthread_mutex_t		 import_mu;
};

/* Opens DATA_DIR/images (trust keys in DATA_DIR/images/trust); files may
 * be imported from under IMPORT_ROOTS (NULL-terminated; missing ones are
 * skipped). Returns 0 or a negative error with a message. */
int image_api_init(struct image_api *ia, const char *data_dir,
    const char *const *import_roots, char **ret_err);
void image_api_done(struct image_api *ia);

/* api_handler_fn for the prefix "/v1/image-"; ARG is the image_api. */
void image_api_handle(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *path, void *arg);

#endif
