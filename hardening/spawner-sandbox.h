/* The confinement of bulwarkd's spawner (privsep/spawner.h): one
 * readable table of what it may do, applied by sandbox_enter() before
 * it reads its first request. docs/hardening.md ("Processes") explains
 * each line. */
#ifndef BW_HARDENING_SPAWNER_SANDBOX_H
#define BW_HARDENING_SPAWNER_SANDBOX_H

#include "hardening/sandbox.h"

extern const struct sandbox_profile spawner_sandbox_profile;

#endif
