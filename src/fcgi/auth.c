/* API key file loading and constant-time key checks. */
#include "fcgi/auth.h"

#include "util/error.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int add_keys(struct fb_auth *auth, json_t *arr, const char *name)
{
	size_t n = json_array_size(arr);

	auth->keys = calloc(n ? n : 1, sizeof(*auth->keys));
	auth->key_len = calloc(n ? n : 1, sizeof(*auth->key_len));
	if (!auth->keys || !auth->key_len)
		return fb_error("%s: out of memory", name);
	for (size_t i = 0; i < n; i++) {
		json_t *k = json_array_get(arr, i);
		if (!json_is_string(k))
			return fb_error("%s: entry %zu is not a string", name, i);
		if (json_string_length(k) == 0)
			return fb_error("%s: entry %zu is an empty key", name, i);
		auth->keys[i] = strdup(json_string_value(k));
		if (!auth->keys[i])
			return fb_error("%s: out of memory", name);
		auth->key_len[i] = json_string_length(k);
		auth->n_keys++;
	}
	if (!n)
		return fb_error("%s: no keys (an empty array would refuse every request; "
				"unset auth.keys_file to turn auth off)",
				name);
	return 0;
}

static int load_json(struct fb_auth *auth, json_t *root, const json_error_t *err, const char *name)
{
	memset(auth, 0, sizeof(*auth));
	if (!root)
		return fb_error("%s:%d: %s", name, err->line, err->text);
	int rc = json_is_array(root) ? add_keys(auth, root, name)
				     : fb_error("%s: expected a JSON array of key strings", name);
	json_decref(root);
	if (rc)
		fb_auth_free(auth);
	else
		auth->enabled = true;
	return rc;
}

int fb_auth_load_string(struct fb_auth *auth, const char *json, const char *name)
{
	json_error_t err;

	return load_json(auth, json_loads(json, 0, &err), &err, name);
}

int fb_auth_load(struct fb_auth *auth, const char *path)
{
	json_error_t err;

	memset(auth, 0, sizeof(*auth));
	if (!path || !*path)
		return 0;
	json_t *root = json_load_file(path, 0, &err);
	if (!root && err.line < 1)
		return fb_error("%s: %s", path, err.text); /* cannot open/read */
	return load_json(auth, root, &err, path);
}

void fb_auth_free(struct fb_auth *auth)
{
	for (size_t i = 0; i < auth->n_keys; i++) {
		/* Keys are secrets: do not leave them in freed heap memory. */
		explicit_bzero(auth->keys[i], auth->key_len[i]);
		free(auth->keys[i]);
	}
	free(auth->keys);
	free(auth->key_len);
	memset(auth, 0, sizeof(*auth));
}

bool fb_auth_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen > blen ? alen : blen;
	volatile unsigned char diff = (unsigned char)(alen != blen);

	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < alen ? (unsigned char)a[i] : 0;
		unsigned char y = i < blen ? (unsigned char)b[i] : 0;
		diff |= x ^ y;
	}
	return diff == 0;
}

int fb_auth_check(const struct fb_auth *auth, const char *authorization, size_t *key_index)
{
	static const char scheme[] = "Bearer ";
	bool found = false;

	*key_index = 0;
	if (!auth->enabled)
		return 0;
	if (!authorization || !*authorization)
		return fb_error("missing API key (send \"Authorization: Bearer KEY\")"), 401;
	if (strncasecmp(authorization, scheme, sizeof(scheme) - 1) != 0)
		return fb_error("unsupported authorization scheme (expected Bearer)"), 401;
	const char *key = authorization + sizeof(scheme) - 1;
	size_t len = strlen(key);
	for (size_t i = 0; i < auth->n_keys; i++) {
		bool match = fb_auth_equal(key, len, auth->keys[i], auth->key_len[i]);
		if (match && !found)
			*key_index = i;
		found |= match;
	}
	if (!found)
		return fb_error("invalid API key"), 401;
	return 0;
}
