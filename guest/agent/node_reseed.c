/* forkbox_reseed.node: the Node worker's way to reseed OpenSSL after a fork.
 *
 * Every VM forked from one template resumes with the same OpenSSL DRBG
 * state in the Node process (Node seeds it at start-up, before the
 * snapshot), and OpenSSL only reseeds by itself after a fork(2) or after
 * minutes, neither of which a VM clone is. Node offers no way to reseed it
 * from JavaScript, so this addon does: RAND_add() makes OpenSSL reseed its
 * primary DRBG (from the kernel, which the agent reseeded from the host's
 * entropy, plus the given bytes); the derived DRBGs behind
 * crypto.randomBytes(), randomFillSync(), randomUUID() and webcrypto
 * reseed from it on their next use.
 *
 * Node-API (the stable C ABI of Node addons) and OpenSSL symbols are
 * resolved at load time from the node process itself; their prototypes are
 * declared here from their documentation, so the build needs no Node or
 * OpenSSL headers. */
#include <stddef.h>

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status; /* an enum: 0 is napi_ok */
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);

napi_status napi_get_cb_info(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
			     napi_value *this_arg, void **data);
napi_status napi_get_buffer_info(napi_env env, napi_value value, void **data, size_t *length);
napi_status napi_create_function(napi_env env, const char *name, size_t length, napi_callback cb,
				 void *data, napi_value *result);
napi_status napi_set_named_property(napi_env env, napi_value object, const char *name,
				    napi_value value);
napi_status napi_throw_error(napi_env env, const char *code, const char *msg);
void RAND_add(const void *buf, int num, double randomness);
int RAND_status(void);

napi_value napi_register_module_v1(napi_env env, napi_value exports)
    __attribute__((visibility("default")));

/* reseed(buffer): mix the buffer into OpenSSL's DRBGs and make them reseed. */
static napi_value reseed(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value arg;
	void *data;
	size_t len;
	if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != 0 || argc != 1 ||
	    napi_get_buffer_info(env, arg, &data, &len) != 0 || len == 0 || len > 4096) {
		napi_throw_error(env, NULL, "reseed(buffer): a Buffer of 1 to 4096 bytes");
		return NULL;
	}
	RAND_add(data, (int)len, (double)len);
	if (RAND_status() != 1)
		napi_throw_error(env, NULL, "OpenSSL's random generator is not seeded");
	return NULL;
}

napi_value napi_register_module_v1(napi_env env, napi_value exports)
{
	napi_value fn;
	if (napi_create_function(env, "reseed", 6, reseed, NULL, &fn) != 0 ||
	    napi_set_named_property(env, exports, "reseed", fn) != 0)
		return NULL;
	return exports;
}
