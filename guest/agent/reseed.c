#include "reseed.h"

#include "log.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_ENTROPY 256

static int add_entropy(int fd, const uint8_t *entropy, size_t len)
{
	union {
		struct rand_pool_info info;
		uint8_t bytes[sizeof(struct rand_pool_info) + MAX_ENTROPY];
	} pool;
	if (len > MAX_ENTROPY)
		return fb_error("entropy of %zu bytes exceeds %d", len, MAX_ENTROPY);
	memset(&pool, 0, sizeof(pool));
	pool.info.entropy_count = (int)(len * 8);
	pool.info.buf_size = (int)len;
	memcpy(pool.info.buf, entropy, len);
	if (ioctl(fd, RNDADDENTROPY, &pool.info) < 0)
		return fb_error_errno("RNDADDENTROPY");
	return 0;
}

int reseed_kernel_rng(const uint8_t *entropy, size_t len)
{
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fb_error_errno("open /dev/urandom");
	int ret = add_entropy(fd, entropy, len);
	if (ret == 0 && ioctl(fd, RNDRESEEDCRNG) < 0)
		agent_log("warning: RNDRESEEDCRNG: %s (relying on RNDADDENTROPY alone)",
			  strerror(errno));
	close(fd);
	return ret;
}

int set_wall_clock(int64_t sec, uint32_t nsec)
{
	struct timespec ts = {.tv_sec = (time_t)sec, .tv_nsec = (long)nsec};
	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		return fb_error_errno("clock_settime CLOCK_REALTIME");
	return 0;
}
