/* API keys (zeroboot style: auth.keys_file is a JSON array of strings) and
 * the `Authorization: Bearer KEY` check. No keys file = auth off. */
#ifndef FORKBOX_FCGI_AUTH_H
#define FORKBOX_FCGI_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct fb_auth {
	bool enabled;
	char **keys;
	size_t *key_len;
	size_t n_keys;
};

/* Load keys from path; path "" or NULL disables auth. Returns 0, or -1 with
 * "PATH: reason" in fb_error_last(). */
int fb_auth_load(struct fb_auth *auth, const char *path);
/* Same, from a JSON text (tests); name is used in messages. */
int fb_auth_load_string(struct fb_auth *auth, const char *json, const char *name);
void fb_auth_free(struct fb_auth *auth);

/* Compare two byte strings in time that depends only on their lengths'
 * maximum, never on where they first differ. */
bool fb_auth_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Check an Authorization header value. Returns 0 with *key_index set (0 when
 * auth is off), or 401 with the reason in fb_error_last(). Every key is
 * compared, so timing does not reveal which one matched. */
int fb_auth_check(const struct fb_auth *auth, const char *authorization, size_t *key_index);

#endif
