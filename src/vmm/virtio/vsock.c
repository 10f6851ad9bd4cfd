/* virtio-vsock device: lifecycle, MMIO entry points, host connections and
 * the I/O thread. Packet handling lives in vsock_tx.c / vsock_rx.c. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vmm/virtio/vsock_impl.h"

#define KICK_KEY 0 /* epoll key of the eventfd; connections use serials >= 1 */

uint64_t fb_vsock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void kick(struct fb_vsock *dev)
{
	uint64_t one = 1;

	/* Can only fail if the counter would overflow: a wakeup is pending anyway. */
	if (write(dev->kickfd, &one, sizeof(one)) < 0)
		return;
}

static void on_notify(void *opaque, int queue)
{
	(void)queue; /* one I/O round serves every queue */
	kick(opaque);
}

void fb_vsock_close_all(struct fb_vsock *dev)
{
	for (unsigned i = 0; i < dev->nconns; i++)
		fb_vsock_conn_free(dev->conns[i]);
	dev->nconns = 0;
	dev->nstray = 0;
}

static void on_reset(void *opaque)
{
	struct fb_vsock *dev = opaque;

	fb_vsock_close_all(dev);
	dev->fail_reason[0] = '\0';
}

static const struct fb_virtio_mmio_ops vsock_mmio_ops = {
    .notify = on_notify,
    .reset = on_reset,
};

void fb_vsock_device_error(struct fb_vsock *dev, const char *where)
{
	fb_error_prefix("vsock %s", where);
	snprintf(dev->fail_reason, sizeof(dev->fail_reason), "%s", fb_error_last());
	fb_virtio_mmio_fail(&dev->t);
	/* Nothing will flow any more: let the host ends see EOF now. */
	fb_vsock_close_all(dev);
}

struct fb_vsock_conn *fb_vsock_find(struct fb_vsock *dev, uint32_t host_port, uint32_t guest_port)
{
	for (unsigned i = 0; i < dev->nconns; i++) {
		struct fb_vsock_conn *c = dev->conns[i];

		if (c->host_port == host_port && c->guest_port == guest_port && !c->dead)
			return c;
	}
	return NULL;
}

void fb_vsock_queue_stray_rst(struct fb_vsock *dev, uint32_t host_port, uint32_t guest_port)
{
	/* Best effort: a guest flooding unknown ports loses some RSTs. */
	if (dev->nstray < FB_VSOCK_MAX_STRAY_RST)
		dev->stray[dev->nstray++] = (struct fb_vsock_stray){host_port, guest_port};
}

struct fb_vsock *fb_vsock_create(const struct fb_guest_mem *mem, uint64_t guest_cid, fb_irq_fn irq,
				 void *irq_opaque)
{
	struct fb_vsock *dev;

	if (!mem || !mem->host || !irq || guest_cid <= FB_VSOCK_HOST_CID ||
	    guest_cid > UINT32_MAX) {
		fb_error("vsock: invalid arguments (guest CID %llu)",
			 (unsigned long long)guest_cid);
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		fb_error_errno("vsock: allocate device");
		return NULL;
	}
	dev->mem = *mem;
	dev->guest_cid = guest_cid;
	uint64_t cid_le = htole64(guest_cid);
	memcpy(dev->config, &cid_le, sizeof(cid_le));
	dev->irq = irq;
	dev->irq_opaque = irq_opaque;
	dev->next_port = FB_VSOCK_PORT_FIRST;
	dev->next_serial = KICK_KEY + 1;
	dev->connect_timeout_ns = FB_VSOCK_CONNECT_TIMEOUT_MS * 1000000ULL;
	dev->close_timeout_ns = FB_VSOCK_CLOSE_TIMEOUT_MS * 1000000ULL;
	fb_virtio_mmio_init(&dev->t, &dev->mem, FB_VIRTIO_ID_VSOCK, 1ULL << FB_VIRTIO_F_VERSION_1,
			    FB_VSOCK_NUM_QUEUES, FB_VSOCK_QUEUE_MAX, dev->config,
			    sizeof(dev->config), &vsock_mmio_ops, dev);
	dev->epfd = epoll_create1(EPOLL_CLOEXEC);
	dev->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->epfd < 0 || dev->kickfd < 0) {
		fb_error_errno("vsock: %s", dev->epfd < 0 ? "epoll_create1" : "eventfd");
		goto fail;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = KICK_KEY};
	if (epoll_ctl(dev->epfd, EPOLL_CTL_ADD, dev->kickfd, &ev)) {
		fb_error_errno("vsock: epoll_ctl(eventfd)");
		goto fail;
	}
	pthread_mutex_init(&dev->lock, NULL);
	return dev;
fail:
	if (dev->epfd >= 0)
		close(dev->epfd);
	if (dev->kickfd >= 0)
		close(dev->kickfd);
	free(dev);
	return NULL;
}

void fb_vsock_destroy(struct fb_vsock *dev)
{
	if (!dev)
		return;
	fb_vsock_pause(dev);
	fb_vsock_close_all(dev);
	close(dev->epfd);
	close(dev->kickfd);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

void fb_vsock_set_timeouts(struct fb_vsock *dev, unsigned connect_ms, unsigned close_ms)
{
	pthread_mutex_lock(&dev->lock);
	dev->connect_timeout_ns = connect_ms * 1000000ULL;
	dev->close_timeout_ns = close_ms * 1000000ULL;
	pthread_mutex_unlock(&dev->lock);
}

/* Take an interrupt request raised under the lock; raise it after unlock. */
static bool take_irq(struct fb_vsock *dev)
{
	bool want = dev->t.irq_wanted;

	dev->t.irq_wanted = false;
	return want;
}

void fb_vsock_mmio_read(struct fb_vsock *dev, uint64_t offset, void *data, unsigned len)
{
	if (len != 1 && len != 2 && len != 4 && len != 8) {
		memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	fb_virtio_mmio_read(&dev->t, offset, data, len);
	pthread_mutex_unlock(&dev->lock);
}

void fb_vsock_mmio_write(struct fb_vsock *dev, uint64_t offset, const void *data, unsigned len)
{
	bool irq;

	pthread_mutex_lock(&dev->lock);
	fb_virtio_mmio_write(&dev->t, offset, data, len);
	irq = take_irq(dev);
	pthread_mutex_unlock(&dev->lock);
	if (irq)
		dev->irq(dev->irq_opaque);
}

static void apply_event(struct fb_vsock *dev, const struct epoll_event *ev)
{
	uint64_t drained;

	if (ev->data.u64 == KICK_KEY) {
		if (read(dev->kickfd, &drained, sizeof(drained)) < 0 && errno != EAGAIN)
			fb_error_errno("vsock: read eventfd");
		return;
	}
	for (unsigned i = 0; i < dev->nconns; i++) {
		struct fb_vsock_conn *c = dev->conns[i];

		if (c->serial != ev->data.u64)
			continue;
		if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->host_readable = true;
		if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			c->host_writable = true;
		if (ev->events & EPOLLHUP)
			c->host_hup = true;
		return;
	}
}

void fb_vsock_abort_conn(struct fb_vsock *dev, struct fb_vsock_conn *c)
{
	/* Not an in-band RST: that would wait for an rx buffer the guest may
	 * never post. The connection is gone now either way. */
	fb_vsock_queue_stray_rst(dev, c->host_port, c->guest_port);
	c->dead = true;
}

/* Host-side progress that needs no guest packet: flush buffered bytes,
 * notice a host that went away, give up on guests that never answer. */
static void service_connection(struct fb_vsock *dev, struct fb_vsock_conn *c, uint64_t now)
{
	fb_vsock_conn_flush(c);
	fb_vsock_conn_check_credit(c);
	/* The host end is closed: what is left is to hand the guest the unread
	 * bytes and a SHUTDOWN, and that must not take for ever (a guest giving
	 * no credit never lets us read to EOF). */
	if (c->host_hup && !c->deadline_ns)
		c->deadline_ns = now + dev->close_timeout_ns;
	if (c->state == FB_VSOCK_ESTABLISHED && c->host_eof && c->host_hup && !c->host_wr_shut &&
	    !(c->pending & FB_VSOCK_PEND_SHUTDOWN)) {
		c->state = FB_VSOCK_CLOSING;
		c->shutdown_flags = FB_VSOCK_SHUTDOWN_RCV | FB_VSOCK_SHUTDOWN_SEND;
		c->pending |= FB_VSOCK_PEND_SHUTDOWN;
	}
	if (c->deadline_ns && now >= c->deadline_ns)
		fb_vsock_abort_conn(dev, c);
}

static void service_connections(struct fb_vsock *dev, uint64_t now)
{
	for (unsigned i = 0; i < dev->nconns; i++) {
		if (!dev->conns[i]->dead)
			service_connection(dev, dev->conns[i], now);
	}
}

/* Milliseconds until the earliest connection deadline, or -1 for none. */
static int next_deadline_ms(struct fb_vsock *dev, uint64_t now)
{
	uint64_t first = 0;

	for (unsigned i = 0; i < dev->nconns; i++) {
		uint64_t d = dev->conns[i]->deadline_ns;

		if (d && (!first || d < first))
			first = d;
	}
	if (!first)
		return -1;
	if (first <= now)
		return 0;
	return (int)((first - now + 999999) / 1000000);
}

static void reap_dead(struct fb_vsock *dev)
{
	for (unsigned i = 0; i < dev->nconns;) {
		if (!dev->conns[i]->dead) {
			i++;
			continue;
		}
		fb_vsock_conn_free(dev->conns[i]);
		dev->conns[i] = dev->conns[--dev->nconns];
	}
}

/* One I/O round; returns the epoll timeout for the next wait. */
static int io_round(struct fb_vsock *dev)
{
	if (!fb_virtio_mmio_live(&dev->t))
		return -1;
	fb_vsock_process_tx(dev);
	service_connections(dev, fb_vsock_now_ns());
	fb_vsock_process_rx(dev);
	reap_dead(dev);
	/* Work left over from a bounded round: come straight back. */
	if (fb_vsock_tx_more(dev) || dev->rx_more)
		return 0;
	return next_deadline_ms(dev, fb_vsock_now_ns());
}

int fb_vsock_io_step(struct fb_vsock *dev, int timeout)
{
	struct epoll_event evs[32];
	int n = epoll_wait(dev->epfd, evs, 32, timeout);
	bool irq;

	pthread_mutex_lock(&dev->lock);
	if (dev->stop) {
		pthread_mutex_unlock(&dev->lock);
		return FB_VSOCK_IO_STOP;
	}
	for (int i = 0; i < n; i++)
		apply_event(dev, &evs[i]);
	timeout = io_round(dev);
	irq = take_irq(dev);
	pthread_mutex_unlock(&dev->lock);
	if (irq)
		dev->irq(dev->irq_opaque);
	return timeout;
}

static void *io_thread(void *arg)
{
	struct fb_vsock *dev = arg;
	int timeout = 0;

	while ((timeout = fb_vsock_io_step(dev, timeout)) != FB_VSOCK_IO_STOP)
		;
	return NULL;
}

int fb_vsock_start(struct fb_vsock *dev)
{
	int err;

	if (dev->running)
		return 0;
	dev->stop = false;
	err = pthread_create(&dev->thread, NULL, io_thread, dev);
	if (err) {
		errno = err;
		return fb_error_errno("vsock: pthread_create");
	}
	dev->running = true;
	return 0;
}

int fb_vsock_pause(struct fb_vsock *dev)
{
	if (!dev->running)
		return 0;
	pthread_mutex_lock(&dev->lock);
	dev->stop = true;
	pthread_mutex_unlock(&dev->lock);
	kick(dev);
	pthread_join(dev->thread, NULL);
	dev->running = false;
	dev->stop = false;
	return 0;
}

static uint32_t allocate_port(struct fb_vsock *dev)
{
	for (;;) {
		uint32_t port = dev->next_port;
		bool used = false;

		dev->next_port = port >= 65535 ? FB_VSOCK_PORT_FIRST : port + 1;
		for (unsigned i = 0; i < dev->nconns; i++)
			used |= dev->conns[i]->host_port == port;
		if (!used)
			return port; /* terminates: fewer connections than ports */
	}
}

static int add_connection(struct fb_vsock *dev, int fd, uint32_t port)
{
	struct fb_vsock_conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};

	if (!c)
		return fb_error_errno("vsock: allocate connection");
	c->serial = dev->next_serial++;
	c->fd = fd;
	c->host_port = allocate_port(dev);
	c->guest_port = port;
	c->state = FB_VSOCK_CONNECTING;
	c->deadline_ns = fb_vsock_now_ns() + dev->connect_timeout_ns;
	c->pending = FB_VSOCK_PEND_REQUEST;
	c->host_readable = c->host_writable = true;
	ev.data.u64 = c->serial;
	if (epoll_ctl(dev->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		fb_error_errno("vsock: epoll_ctl(connection)");
		c->fd = -1; /* the caller closes it */
		fb_vsock_conn_free(c);
		return -1;
	}
	dev->conns[dev->nconns++] = c;
	return 0;
}

int fb_vsock_connect(struct fb_vsock *dev, uint32_t port)
{
	int sv[2] = {-1, -1};

	pthread_mutex_lock(&dev->lock);
	if (!fb_virtio_mmio_live(&dev->t)) {
		fb_error("vsock connect to port %u: guest driver not ready", port);
		goto fail;
	}
	if (dev->nconns >= FB_VSOCK_MAX_CONNS) {
		fb_error("vsock connect to port %u: too many connections (%u)", port, dev->nconns);
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		fb_error_errno("vsock connect: socketpair");
		goto fail;
	}
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK)) {
		fb_error_errno("vsock connect: fcntl(O_NONBLOCK)");
		goto fail;
	}
	if (add_connection(dev, sv[0], port))
		goto fail;
	pthread_mutex_unlock(&dev->lock);
	kick(dev);
	return sv[1];
fail:
	pthread_mutex_unlock(&dev->lock);
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	return -1;
}

void fb_vsock_guest_stopped(struct fb_vsock *dev)
{
	pthread_mutex_lock(&dev->lock);
	fb_vsock_close_all(dev);
	pthread_mutex_unlock(&dev->lock);
}

unsigned fb_vsock_connection_count(struct fb_vsock *dev)
{
	unsigned n;

	pthread_mutex_lock(&dev->lock);
	n = dev->nconns;
	pthread_mutex_unlock(&dev->lock);
	return n;
}

int fb_vsock_failed(struct fb_vsock *dev, char *why, size_t why_len)
{
	int failed;

	pthread_mutex_lock(&dev->lock);
	failed = !!(dev->t.status & FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	if (failed && why && why_len)
		snprintf(why, why_len, "%s",
			 dev->fail_reason[0] ? dev->fail_reason : "queue configuration rejected");
	pthread_mutex_unlock(&dev->lock);
	return failed;
}
