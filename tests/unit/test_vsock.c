/* virtio-vsock device end to end, without KVM: a fake guest driver in this
 * file owns a "guest memory" (ending at a PROT_NONE guard page), negotiates
 * through MMIO like Linux's virtio_mmio, runs the 3 queues and plays the
 * guest side of the vsock protocol, while the device's I/O thread runs. */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/error.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/vsock.h"
#include "vmm/virtio/vsock_impl.h"
#include "vmm/virtio/vsock_proto.h"
#include "vsock_driver.h"

#define GUEST_CID  3
#define AGENT_PORT 1024
#define MEM_SIZE   (5 * 1024 * 1024)
#define QSIZE	   256
#define NBUF	   (QSIZE / 2) /* two descriptors (header, payload) per buffer */
#define PAYLOAD	   4096
#define HDR	   ((uint32_t)sizeof(struct fb_vsock_hdr))
#define BULK	   (10 * 1024 * 1024)
#define DEADLINE_S 60

/* Guest-physical layout. */
static const uint64_t ring_base[3] = {0x10000, 0x20000, 0x30000};
#define RX_HDR(i) (0x100000ULL + 64 * (i))
#define RX_BUF(i) (0x200000ULL + PAYLOAD * (uint64_t)(i))
#define TX_HDR(i) (0x300000ULL + 64 * (i))
#define TX_BUF(i) (0x380000ULL + PAYLOAD * (uint64_t)(i))

struct pkt {
	struct fb_vsock_hdr h;
};

struct guest {
	uint8_t *map;
	size_t map_len;
	struct fb_guest_mem mem;
	struct fb_vsock *dev;
	int irqfd;
	struct vq_driver q[3];
	bool tx_busy[NBUF];

	/* The guest's one connection. */
	bool listening, auto_credit;
	bool ignore_requests; /* neither RESPONSE nor RST to a REQUEST */
	bool rx_header_only;  /* post rx buffers that hold a header and no payload */
	bool no_rx_post;      /* probe() posts no rx buffers */
	unsigned rx_packets;  /* every packet received */
	uint32_t host_port, guest_port;
	uint32_t buf_alloc, fwd_cnt, fwd_cnt_sent, rx_cnt;
	uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	bool credit_violation;
	unsigned credit_stalls; /* times the guest had to wait for host credit */
	uint64_t rx_bytes, rx_sum;
	uint8_t last_payload[64];
	/* Control packets received, oldest first. */
	struct pkt log[64];
	unsigned nlog;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

static void pattern(uint64_t *s, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		*s ^= *s << 13;
		*s ^= *s >> 7;
		*s ^= *s << 17;
		buf[i] = (uint8_t)*s;
	}
}

static void irq_cb(void *opaque)
{
	struct guest *g = opaque;
	uint64_t one = 1;
	assert_int_equal(write(g->irqfd, &one, 8), 8);
}

static uint32_t mmio_r(struct guest *g, uint64_t off)
{
	uint32_t v;
	fb_vsock_mmio_read(g->dev, off, &v, 4);
	return v;
}

static void mmio_w(struct guest *g, uint64_t off, uint32_t v)
{
	fb_vsock_mmio_write(g->dev, off, &v, 4);
}

static void *gpa(struct guest *g, uint64_t a)
{
	return g->map + a;
}

/* --- virtqueue, driver side ------------------------------------------- */

static void set_desc(struct guest *g, int qi, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	vq_driver_set_desc(&g->q[qi], i, addr, len, flags, next);
}

static void offer(struct guest *g, int qi, uint16_t head)
{
	vq_driver_offer(&g->q[qi], head);
}

static void kick(struct guest *g, int qi)
{
	mmio_w(g, FB_VIRTIO_MMIO_QUEUE_NOTIFY, (uint32_t)qi);
}

static bool take_used(struct guest *g, int qi, uint32_t *id, uint32_t *len)
{
	return vq_driver_take_used(&g->q[qi], id, len);
}

static void setup_queue(struct guest *g, int qi, uint16_t num)
{
	mmio_w(g, FB_VIRTIO_MMIO_QUEUE_SEL, (uint32_t)qi);
	assert_int_equal(mmio_r(g, FB_VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(mmio_r(g, FB_VIRTIO_MMIO_QUEUE_NUM_MAX) >= num);
	vq_driver_setup(&g->q[qi], g->dev, (unsigned)qi, g->map, num, ring_base[qi], 0x4000,
			0x8000);
	assert_int_equal(mmio_r(g, FB_VIRTIO_MMIO_QUEUE_READY), 1);
}

/* Odd buffers are one 4 KiB descriptor holding header and payload, as
 * Linux 6.1 posts them; even ones split header and payload in two. */
static bool rx_single(uint16_t i)
{
	return i % 2;
}

static uint64_t rx_hdr_gpa(struct guest *g, uint16_t i)
{
	return rx_single(i) && !g->rx_header_only ? RX_BUF(i) : RX_HDR(i);
}

static uint64_t rx_payload_gpa(uint16_t i)
{
	return rx_single(i) ? RX_BUF(i) + HDR : RX_BUF(i);
}

static uint32_t rx_payload_room(uint16_t i)
{
	return rx_single(i) ? PAYLOAD - HDR : PAYLOAD;
}

static void set_rx_desc(struct guest *g, uint16_t i)
{
	if (g->rx_header_only) {
		set_desc(g, 0, 2 * i, RX_HDR(i), HDR, FB_VIRTQ_DESC_F_WRITE, 0);
	} else if (rx_single(i)) {
		set_desc(g, 0, 2 * i, RX_BUF(i), PAYLOAD, FB_VIRTQ_DESC_F_WRITE, 0);
	} else {
		set_desc(g, 0, 2 * i, RX_HDR(i), HDR, FB_VIRTQ_DESC_F_WRITE | FB_VIRTQ_DESC_F_NEXT,
			 2 * i + 1);
		set_desc(g, 0, 2 * i + 1, RX_BUF(i), PAYLOAD, FB_VIRTQ_DESC_F_WRITE, 0);
	}
}

static void post_rx(struct guest *g, uint16_t i)
{
	set_rx_desc(g, i);
	offer(g, 0, 2 * i);
}

/* The probe sequence of Linux's virtio_mmio + virtio_vsock drivers. */
static void probe(struct guest *g)
{
	uint32_t status = FB_VIRTIO_STATUS_ACKNOWLEDGE | FB_VIRTIO_STATUS_DRIVER;
	uint64_t cid;

	assert_int_equal(mmio_r(g, FB_VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(mmio_r(g, FB_VIRTIO_MMIO_VERSION_REG), 2);
	assert_int_equal(mmio_r(g, FB_VIRTIO_MMIO_DEVICE_ID), 19);
	mmio_w(g, FB_VIRTIO_MMIO_STATUS, 0);
	mmio_w(g, FB_VIRTIO_MMIO_STATUS, FB_VIRTIO_STATUS_ACKNOWLEDGE);
	mmio_w(g, FB_VIRTIO_MMIO_STATUS, status);
	mmio_w(g, FB_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(mmio_r(g, FB_VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 only */
	mmio_w(g, FB_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(mmio_r(g, FB_VIRTIO_MMIO_DEVICE_FEATURES), 0);
	mmio_w(g, FB_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_w(g, FB_VIRTIO_MMIO_DRIVER_FEATURES, 1);
	mmio_w(g, FB_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_w(g, FB_VIRTIO_MMIO_DRIVER_FEATURES, 0);
	status |= FB_VIRTIO_STATUS_FEATURES_OK;
	mmio_w(g, FB_VIRTIO_MMIO_STATUS, status);
	assert_int_equal(mmio_r(g, FB_VIRTIO_MMIO_STATUS), status);
	cid = mmio_r(g, FB_VIRTIO_MMIO_CONFIG) | (uint64_t)mmio_r(g, FB_VIRTIO_MMIO_CONFIG + 4)
						     << 32;
	assert_int_equal(cid, GUEST_CID);
	setup_queue(g, 0, QSIZE);
	setup_queue(g, 1, QSIZE);
	setup_queue(g, 2, 8);
	status |= FB_VIRTIO_STATUS_DRIVER_OK;
	mmio_w(g, FB_VIRTIO_MMIO_STATUS, status);
	for (uint16_t i = 0; !g->no_rx_post && i < NBUF; i++)
		post_rx(g, i);
	kick(g, 0);
}

static struct guest *guest_new(void)
{
	struct guest *g = calloc(1, sizeof(*g));
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	assert_non_null(g);
	g->map_len = MEM_SIZE + page;
	g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->map != MAP_FAILED);
	assert_int_equal(mprotect(g->map + MEM_SIZE, page, PROT_NONE), 0);
	g->mem = (struct fb_guest_mem){.host = g->map, .size = MEM_SIZE};
	g->irqfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(g->irqfd >= 0);
	g->dev = fb_vsock_create(&g->mem, GUEST_CID, irq_cb, g);
	assert_non_null(g->dev);
	g->listening = true;
	g->auto_credit = true;
	g->buf_alloc = 16 * 1024; /* small, so flow control is exercised */
	return g;
}

static struct guest *guest_start(void)
{
	struct guest *g = guest_new();

	assert_int_equal(fb_vsock_start(g->dev), 0);
	probe(g);
	return g;
}

static void guest_free(struct guest *g)
{
	fb_vsock_destroy(g->dev);
	close(g->irqfd);
	munmap(g->map, g->map_len);
	free(g);
}

static int setup(void **state)
{
	*state = guest_start();
	return 0;
}

static int teardown(void **state)
{
	guest_free(*state);
	return 0;
}

/* --- vsock, guest side ------------------------------------------------ */

static int free_tx_slot(struct guest *g)
{
	for (int i = 0; i < NBUF; i++) {
		if (!g->tx_busy[i])
			return i;
	}
	return -1;
}

static void guest_poll(struct guest *g, int timeout_ms);

/* Queue one packet on tx (waits for a free slot). */
static void send_pkt(struct guest *g, uint16_t op, uint32_t flags, uint32_t src_port,
		     uint32_t dst_port, const void *data, uint32_t len)
{
	struct fb_vsock_hdr h = {
	    .src_cid = htole64(GUEST_CID),
	    .dst_cid = htole64(FB_VSOCK_HOST_CID),
	    .src_port = htole32(src_port),
	    .dst_port = htole32(dst_port),
	    .len = htole32(len),
	    .type = htole16(FB_VSOCK_TYPE_STREAM),
	    .op = htole16(op),
	    .flags = htole32(flags),
	    .buf_alloc = htole32(g->buf_alloc),
	    .fwd_cnt = htole32(g->fwd_cnt),
	};
	double end = now_s() + DEADLINE_S;
	int slot;

	while ((slot = free_tx_slot(g)) < 0) {
		assert_true(now_s() < end);
		guest_poll(g, 10);
	}
	g->tx_busy[slot] = true;
	memcpy(gpa(g, TX_HDR(slot)), &h, HDR);
	set_desc(g, 1, 2 * slot, TX_HDR(slot), HDR, len ? FB_VIRTQ_DESC_F_NEXT : 0, 2 * slot + 1);
	if (len) {
		memcpy(gpa(g, TX_BUF(slot)), data, len);
		set_desc(g, 1, 2 * slot + 1, TX_BUF(slot), len, 0, 0);
	}
	if (op == FB_VSOCK_OP_RW)
		g->tx_cnt += len;
	g->fwd_cnt_sent = g->fwd_cnt;
	offer(g, 1, 2 * slot);
	kick(g, 1);
}

static void conn_send(struct guest *g, uint16_t op, uint32_t flags, const void *data, uint32_t len)
{
	send_pkt(g, op, flags, g->guest_port, g->host_port, data, len);
}

static void on_rx(struct guest *g, const struct fb_vsock_hdr *h, const uint8_t *payload)
{
	uint16_t op = le16toh(h->op);

	assert_int_equal(le64toh(h->src_cid), FB_VSOCK_HOST_CID);
	assert_int_equal(le64toh(h->dst_cid), GUEST_CID);
	assert_int_equal(le16toh(h->type), FB_VSOCK_TYPE_STREAM);
	if (op == FB_VSOCK_OP_REQUEST) {
		g->host_port = le32toh(h->src_port);
		g->guest_port = le32toh(h->dst_port);
	}
	if (le32toh(h->src_port) == g->host_port) {
		g->peer_buf_alloc = le32toh(h->buf_alloc);
		g->peer_fwd_cnt = le32toh(h->fwd_cnt);
	}
	if (op == FB_VSOCK_OP_RW) {
		uint32_t len = le32toh(h->len);

		/* The device must never exceed the credit we advertised. */
		if (g->rx_cnt + len - g->fwd_cnt > g->buf_alloc)
			g->credit_violation = true;
		g->rx_cnt += len;
		g->rx_bytes += len;
		g->rx_sum = fnv(g->rx_sum, payload, len);
		memcpy(g->last_payload, payload, len < 64 ? len : 64);
		return;
	}
	if (g->nlog < 64)
		g->log[g->nlog++].h = *h;
	if (op == FB_VSOCK_OP_REQUEST && !g->ignore_requests)
		conn_send(g, g->listening ? FB_VSOCK_OP_RESPONSE : FB_VSOCK_OP_RST, 0, NULL, 0);
}

/* Wait for an interrupt (or timeout), ack it, and drain both used rings. */
static void guest_poll(struct guest *g, int timeout_ms)
{
	struct pollfd pfd = {.fd = g->irqfd, .events = POLLIN};
	uint64_t n;
	uint32_t id, len, isr;
	bool reposted = false;

	if (poll(&pfd, 1, timeout_ms) > 0)
		assert_int_equal(read(g->irqfd, &n, 8), 8);
	isr = mmio_r(g, FB_VIRTIO_MMIO_INTERRUPT_STATUS);
	if (isr)
		mmio_w(g, FB_VIRTIO_MMIO_INTERRUPT_ACK, isr);
	while (take_used(g, 1, &id, &len)) {
		assert_true(id % 2 == 0 && id / 2 < NBUF);
		g->tx_busy[id / 2] = false;
	}
	while (take_used(g, 0, &id, &len)) {
		struct fb_vsock_hdr h;
		uint16_t i = (uint16_t)(id / 2);

		assert_true(id % 2 == 0 && i < NBUF);
		memcpy(&h, gpa(g, rx_hdr_gpa(g, i)), HDR);
		g->rx_packets++;
		assert_int_equal(len, HDR + le32toh(h.len));
		assert_true(le32toh(h.len) <= (g->rx_header_only ? 0 : rx_payload_room(i)));
		on_rx(g, &h, gpa(g, rx_payload_gpa(i)));
		post_rx(g, i);
		reposted = true;
	}
	if (reposted)
		kick(g, 0);
	/* The guest application consumes what it received; tell the host. */
	if (g->auto_credit && g->fwd_cnt != g->rx_cnt) {
		g->fwd_cnt = g->rx_cnt;
		if (g->fwd_cnt - g->fwd_cnt_sent >= g->buf_alloc / 2)
			conn_send(g, FB_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
	}
}

/* Poll until a control packet with op arrives; returns it. */
static struct fb_vsock_hdr wait_op(struct guest *g, uint16_t op)
{
	double end = now_s() + 10;

	for (;;) {
		for (unsigned i = 0; i < g->nlog; i++) {
			if (le16toh(g->log[i].h.op) == op) {
				struct fb_vsock_hdr h = g->log[i].h;

				memmove(&g->log[i], &g->log[i + 1],
					(g->nlog - i - 1) * sizeof(g->log[0]));
				g->nlog--;
				return h;
			}
		}
		if (now_s() > end)
			fail_msg("timed out waiting for vsock op %u", op);
		guest_poll(g, 10);
	}
}

static int host_connect(struct guest *g)
{
	int fd = fb_vsock_connect(g->dev, AGENT_PORT);
	struct fb_vsock_hdr h;

	assert_true(fd >= 0);
	h = wait_op(g, FB_VSOCK_OP_REQUEST);
	assert_int_equal(le32toh(h.dst_port), AGENT_PORT);
	assert_true(le32toh(h.src_port) >= 49152);
	assert_int_equal(le32toh(h.buf_alloc), FB_VSOCK_BUF_ALLOC);
	return fd;
}

/* Poll the guest until the host fd has n bytes, and read them. */
static void host_read_exact(struct guest *g, int fd, void *buf, size_t n)
{
	size_t got = 0;
	double end = now_s() + 10;

	while (got < n) {
		ssize_t r = recv(fd, (uint8_t *)buf + got, n - got, MSG_DONTWAIT);

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		assert_true(r < 0 && errno == EAGAIN);
		assert_true(now_s() < end);
		guest_poll(g, 5);
	}
}

/* Poll the guest until the host fd reports end of stream (EOF or reset). */
static void host_expect_eof(struct guest *g, int fd)
{
	double end = now_s() + 10;
	char c;

	for (;;) {
		ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);

		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return;
		assert_true(r < 0 && errno == EAGAIN);
		assert_true(now_s() < end);
		guest_poll(g, 5);
	}
}

static void wait_no_connections(struct guest *g)
{
	double end = now_s() + 10;

	while (fb_vsock_connection_count(g->dev) != 0) {
		assert_true(now_s() < end);
		guest_poll(g, 5);
	}
}

/* --- tests ------------------------------------------------------------ */

static void test_probe_and_refused_features(void **state)
{
	struct guest *g = *state;

	assert_false(fb_vsock_failed(g->dev, NULL, 0));
	/* A driver asking for a feature never offered does not get FEATURES_OK. */
	mmio_w(g, FB_VIRTIO_MMIO_STATUS, 0);
	mmio_w(g, FB_VIRTIO_MMIO_STATUS, FB_VIRTIO_STATUS_ACKNOWLEDGE | FB_VIRTIO_STATUS_DRIVER);
	mmio_w(g, FB_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_w(g, FB_VIRTIO_MMIO_DRIVER_FEATURES, 1);
	mmio_w(g, FB_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_w(g, FB_VIRTIO_MMIO_DRIVER_FEATURES, 1u << 1); /* SEQPACKET */
	mmio_w(g, FB_VIRTIO_MMIO_STATUS, 11);
	assert_false(mmio_r(g, FB_VIRTIO_MMIO_STATUS) & FB_VIRTIO_STATUS_FEATURES_OK);
	/* And connecting to a device whose driver is not up fails cleanly. */
	assert_int_equal(fb_vsock_connect(g->dev, AGENT_PORT), -1);
	assert_non_null(strstr(fb_error_last(), "not ready"));
}

static void test_connect_and_echo(void **state)
{
	struct guest *g = *state;
	char buf[16];
	int fd = fb_vsock_connect(g->dev, AGENT_PORT);

	assert_true(fd >= 0);
	/* Written before the guest accepted: must arrive after. */
	assert_int_equal(write(fd, "hello", 5), 5);
	wait_op(g, FB_VSOCK_OP_REQUEST);
	while (g->rx_bytes < 5)
		guest_poll(g, 10);
	assert_int_equal(g->rx_bytes, 5);
	assert_memory_equal(g->last_payload, "hello", 5);
	conn_send(g, FB_VSOCK_OP_RW, 0, "world!", 6);
	host_read_exact(g, fd, buf, 6);
	assert_memory_equal(buf, "world!", 6);
	close(fd);
}

struct host_io {
	int fd;
	size_t total;
	uint64_t sum, seed;
	size_t done;
	int delay_ms;
};

static void *host_writer(void *arg)
{
	struct host_io *io = arg;
	static _Thread_local uint8_t chunk[65536];

	io->sum = FNV_INIT;
	while (io->done < io->total) {
		size_t n =
		    io->total - io->done < sizeof(chunk) ? io->total - io->done : sizeof(chunk);
		ssize_t w;

		pattern(&io->seed, chunk, n);
		io->sum = fnv(io->sum, chunk, n);
		for (size_t off = 0; off < n; off += (size_t)w) {
			w = write(io->fd, chunk + off, n - off);
			if (w <= 0)
				return NULL;
		}
		io->done += n;
	}
	shutdown(io->fd, SHUT_WR);
	return NULL;
}

static void *host_reader(void *arg)
{
	struct host_io *io = arg;
	static _Thread_local uint8_t chunk[65536];
	ssize_t r;

	usleep((useconds_t)io->delay_ms * 1000); /* let the device buffer fill */
	io->sum = FNV_INIT;
	while ((r = read(io->fd, chunk, sizeof(chunk))) > 0) {
		io->sum = fnv(io->sum, chunk, (size_t)r);
		io->done += (size_t)r;
	}
	return NULL;
}

static void test_bulk_host_to_guest(void **state)
{
	struct guest *g = *state;
	int fd = host_connect(g);
	struct host_io io = {.fd = fd, .total = BULK, .seed = 42};
	pthread_t th;
	double t0 = now_s(), end = t0 + DEADLINE_S;
	struct fb_vsock_hdr h;

	g->rx_sum = FNV_INIT;
	assert_int_equal(pthread_create(&th, NULL, host_writer, &io), 0);
	while (g->rx_bytes < BULK && now_s() < end)
		guest_poll(g, 10);
	/* The host's shutdown(SHUT_WR) arrives after all the data. */
	h = wait_op(g, FB_VSOCK_OP_SHUTDOWN);
	assert_int_equal(le32toh(h.flags), FB_VSOCK_SHUTDOWN_SEND);
	printf("# 10 MB host->guest (guest buf_alloc 16 KiB): %.0f ms\n", (now_s() - t0) * 1e3);
	pthread_join(th, NULL);
	assert_int_equal(io.done, BULK);
	assert_int_equal(g->rx_bytes, BULK);
	assert_true(g->rx_sum == io.sum);
	assert_false(g->credit_violation);
	close(fd);
}

static void send_bulk(struct guest *g, uint64_t seed, size_t total, uint64_t *sum)
{
	static uint8_t chunk[PAYLOAD];
	double end = now_s() + DEADLINE_S;

	*sum = FNV_INIT;
	for (size_t sent = 0; sent < total;) {
		uint32_t credit = g->peer_buf_alloc - (g->tx_cnt - g->peer_fwd_cnt);
		uint32_t n = (uint32_t)(total - sent < PAYLOAD ? total - sent : PAYLOAD);

		assert_true(g->tx_cnt - g->peer_fwd_cnt <= g->peer_buf_alloc);
		if (credit < n)
			n = credit;
		if (n == 0) {
			g->credit_stalls++;
			assert_true(now_s() < end);
			guest_poll(g, 10);
			continue;
		}
		pattern(&seed, chunk, n);
		*sum = fnv(*sum, chunk, n);
		conn_send(g, FB_VSOCK_OP_RW, 0, chunk, n);
		sent += n;
		guest_poll(g, 0);
	}
}

static void test_bulk_guest_to_host(void **state)
{
	struct guest *g = *state;
	int fd = host_connect(g);
	struct host_io io = {.fd = fd, .delay_ms = 200};
	pthread_t th;
	uint64_t sum;
	double t0;

	assert_int_equal(pthread_create(&th, NULL, host_reader, &io), 0);
	t0 = now_s();
	send_bulk(g, 7, BULK, &sum);
	/* Guest closes its sending side: the host reads EOF after the data. */
	conn_send(g, FB_VSOCK_OP_SHUTDOWN, FB_VSOCK_SHUTDOWN_SEND, NULL, 0);
	while (io.done < BULK && now_s() < t0 + DEADLINE_S)
		guest_poll(g, 10);
	pthread_join(th, NULL);
	printf("# 10 MB guest->host (200 ms stalled reader): %.0f ms\n", (now_s() - t0) * 1e3);
	assert_int_equal(io.done, BULK);
	assert_true(io.sum == sum);
	/* The stalled reader made the guest wait for CREDIT_UPDATEs. */
	assert_true(g->credit_stalls > 0);
	assert_int_equal(g->peer_buf_alloc, FB_VSOCK_BUF_ALLOC);
	close(fd);
}

static void test_credit_request(void **state)
{
	struct guest *g = *state;
	int fd = host_connect(g);
	char buf[100];
	struct fb_vsock_hdr h;

	conn_send(g, FB_VSOCK_OP_RW, 0, "0123456789", 10);
	host_read_exact(g, fd, buf, 10);
	g->nlog = 0;
	conn_send(g, FB_VSOCK_OP_CREDIT_REQUEST, 0, NULL, 0);
	h = wait_op(g, FB_VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(le32toh(h.buf_alloc), FB_VSOCK_BUF_ALLOC);
	assert_int_equal(le32toh(h.fwd_cnt), 10); /* bytes the host socket took */
	close(fd);
}

static void test_guest_rst(void **state)
{
	struct guest *g = *state;
	int fd = host_connect(g);

	conn_send(g, FB_VSOCK_OP_RST, 0, NULL, 0);
	host_expect_eof(g, fd);
	wait_no_connections(g);
	close(fd);
}

static void test_guest_refuses(void **state)
{
	struct guest *g = *state;
	int fd;

	g->listening = false;
	fd = host_connect(g); /* the guest answers the REQUEST with RST */
	host_expect_eof(g, fd);
	wait_no_connections(g);
	close(fd);
}

static void test_guest_shutdown(void **state)
{
	struct guest *g = *state;
	int fd = host_connect(g);
	char buf[8];

	conn_send(g, FB_VSOCK_OP_RW, 0, "bye", 3);
	conn_send(g, FB_VSOCK_OP_SHUTDOWN, FB_VSOCK_SHUTDOWN_SEND | FB_VSOCK_SHUTDOWN_RCV, NULL, 0);
	host_read_exact(g, fd, buf, 3);
	assert_memory_equal(buf, "bye", 3);
	host_expect_eof(g, fd);
	/* A clean close is answered with RST, then the connection is gone. */
	wait_op(g, FB_VSOCK_OP_RST);
	wait_no_connections(g);
	close(fd);
}

static void test_host_half_close_then_close(void **state)
{
	struct guest *g = *state;
	int fd = host_connect(g);
	char buf[8];
	struct fb_vsock_hdr h;

	assert_int_equal(write(fd, "req", 3), 3);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	h = wait_op(g, FB_VSOCK_OP_SHUTDOWN);
	assert_int_equal(le32toh(h.flags), FB_VSOCK_SHUTDOWN_SEND);
	assert_int_equal(g->rx_bytes, 3);
	/* The host still reads what the guest answers. */
	conn_send(g, FB_VSOCK_OP_RW, 0, "answer", 6);
	host_read_exact(g, fd, buf, 6);
	assert_memory_equal(buf, "answer", 6);
	/* Host closes completely: the guest is told, and answers RST. */
	close(fd);
	h = wait_op(g, FB_VSOCK_OP_SHUTDOWN);
	assert_int_equal(le32toh(h.flags), FB_VSOCK_SHUTDOWN_SEND | FB_VSOCK_SHUTDOWN_RCV);
	assert_int_equal(fb_vsock_connection_count(g->dev), 1);
	conn_send(g, FB_VSOCK_OP_RST, 0, NULL, 0);
	wait_no_connections(g);
}

static void test_host_close(void **state)
{
	struct guest *g = *state;
	int fd = host_connect(g);
	struct fb_vsock_hdr h;

	close(fd);
	h = wait_op(g, FB_VSOCK_OP_SHUTDOWN);
	assert_int_equal(le32toh(h.flags), FB_VSOCK_SHUTDOWN_SEND | FB_VSOCK_SHUTDOWN_RCV);
	conn_send(g, FB_VSOCK_OP_SHUTDOWN, FB_VSOCK_SHUTDOWN_SEND | FB_VSOCK_SHUTDOWN_RCV, NULL, 0);
	wait_no_connections(g);
}

static void test_unknown_port_gets_rst(void **state)
{
	struct guest *g = *state;
	struct fb_vsock_hdr h;

	send_pkt(g, FB_VSOCK_OP_RW, 0, 4000, 5555, "x", 1);
	h = wait_op(g, FB_VSOCK_OP_RST);
	assert_int_equal(le32toh(h.src_port), 5555);
	assert_int_equal(le32toh(h.dst_port), 4000);
	/* Guest-initiated connections to the host are refused. */
	send_pkt(g, FB_VSOCK_OP_REQUEST, 0, 4001, 80, NULL, 0);
	h = wait_op(g, FB_VSOCK_OP_RST);
	assert_int_equal(le32toh(h.src_port), 80);
	assert_int_equal(le32toh(h.dst_port), 4001);
	/* An RST to nowhere is not answered (no RST storms). */
	send_pkt(g, FB_VSOCK_OP_RST, 0, 4002, 81, NULL, 0);
	send_pkt(g, FB_VSOCK_OP_RW, 0, 4003, 82, "y", 1);
	h = wait_op(g, FB_VSOCK_OP_RST);
	assert_int_equal(le32toh(h.dst_port), 4003);
	assert_int_equal(g->nlog, 0);
	assert_int_equal(fb_vsock_connection_count(g->dev), 0);
	assert_false(fb_vsock_failed(g->dev, NULL, 0));
}

static void test_save_restore(void **state)
{
	struct guest *g = *state;
	int fd = host_connect(g);
	void *blob;
	size_t len;
	char buf[8];

	assert_int_equal(fb_vsock_pause(g->dev), 0);
	assert_int_equal(fb_vsock_save(g->dev, &blob, &len), -1); /* connection open */
	assert_non_null(strstr(fb_error_last(), "open"));
	assert_int_equal(fb_vsock_start(g->dev), 0);
	close(fd);
	wait_op(g, FB_VSOCK_OP_SHUTDOWN);
	conn_send(g, FB_VSOCK_OP_RST, 0, NULL, 0);
	wait_no_connections(g);
	assert_int_equal(fb_vsock_save(g->dev, &blob, &len), -1); /* still running */
	assert_int_equal(fb_vsock_pause(g->dev), 0);
	assert_int_equal(fb_vsock_save(g->dev, &blob, &len), 0);
	fb_vsock_destroy(g->dev);

	/* A fresh device over the same guest memory continues where it was. */
	g->dev = fb_vsock_create(&g->mem, GUEST_CID, irq_cb, g);
	assert_non_null(g->dev);
	assert_int_equal(fb_vsock_restore(g->dev, blob, len), 0);
	free(blob);
	assert_int_equal(fb_vsock_start(g->dev), 0);
	g->nlog = 0;
	fd = host_connect(g);
	assert_int_equal(write(fd, "again", 5), 5);
	conn_send(g, FB_VSOCK_OP_RW, 0, "pong", 4);
	host_read_exact(g, fd, buf, 4);
	assert_memory_equal(buf, "pong", 4);
	while (g->rx_bytes < 5)
		guest_poll(g, 10);
	assert_memory_equal(g->last_payload, "again", 5);
	close(fd);
}

/* Corrupt one field of a valid blob at a time: each must be refused. */
static void test_restore_validates(void **state)
{
	struct guest *g = *state;
	void *blob;
	size_t len;
	struct fb_vsock *fresh;
	/* Offsets inside the saved state (see vsock_snapshot.c). */
	static const struct {
		size_t off;
		uint64_t val;
		unsigned size;
	} bad[] = {
	    {0, 0xdead, 4},	 /* magic */
	    {4, 99, 4},		 /* version */
	    {16, 4, 8},		 /* guest CID */
	    {24, 1ULL << 29, 8}, /* driver features never offered */
	    {32, 0x1ff, 4},	 /* status */
	    {52, 80, 4},	 /* next port below the ephemeral range */
	    {56, MEM_SIZE, 8},	 /* queue 0 desc outside guest memory */
	    {64, 0x10001, 8},	 /* queue 0 avail ring misaligned */
	    {80, 12, 2},	 /* queue 0 size not a power of two */
	    {80, 512, 2},	 /* queue 0 size above the maximum */
	};

	assert_int_equal(fb_vsock_pause(g->dev), 0);
	assert_int_equal(fb_vsock_save(g->dev, &blob, &len), 0);
	fresh = fb_vsock_create(&g->mem, GUEST_CID, irq_cb, g);
	assert_non_null(fresh);
	assert_int_equal(fb_vsock_restore(fresh, blob, len - 1), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *copy = malloc(len);

		memcpy(copy, blob, len);
		memcpy(copy + bad[i].off, &bad[i].val, bad[i].size);
		if (fb_vsock_restore(fresh, copy, len) != -1)
			fail_msg("corruption %zu at offset %zu accepted", i, bad[i].off);
		free(copy);
	}
	assert_int_equal(fb_vsock_restore(fresh, blob, len), 0);
	fb_vsock_destroy(fresh);
	free(blob);
}

/* --- hostile drivers: the device must flag NEEDS_RESET, not crash ----- */

static void expect_failed(struct guest *g, int fd)
{
	char why[FB_ERROR_MAX];
	double end = now_s() + 10;

	while (!fb_vsock_failed(g->dev, why, sizeof(why))) {
		assert_true(now_s() < end);
		guest_poll(g, 5);
	}
	assert_true(mmio_r(g, FB_VIRTIO_MMIO_STATUS) & FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	printf("# device failed as expected: %s\n", why);
	if (fd >= 0) {
		host_expect_eof(g, fd);
		close(fd);
	}
	/* A reset brings the device back. */
	mmio_w(g, FB_VIRTIO_MMIO_STATUS, 0);
	assert_false(fb_vsock_failed(g->dev, NULL, 0));
}

static int hostile_tx(struct guest *g, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	int fd = host_connect(g);

	set_desc(g, 1, 0, addr, len, flags, next);
	offer(g, 1, 0);
	kick(g, 1);
	return fd;
}

static void test_hostile_addr_out_of_range(void **state)
{
	struct guest *g = *state;

	expect_failed(g, hostile_tx(g, MEM_SIZE - 8, HDR, 0, 0));
}

static void test_hostile_len_overflow(void **state)
{
	struct guest *g = *state;

	expect_failed(g, hostile_tx(g, 0x1000, 0xffffffffu, 0, 0));
}

static void test_hostile_chain_loop(void **state)
{
	struct guest *g = *state;

	set_desc(g, 1, 1, 0x1000, 8, FB_VIRTQ_DESC_F_NEXT, 0);
	expect_failed(g, hostile_tx(g, 0x1000, 8, FB_VIRTQ_DESC_F_NEXT, 1));
}

static void test_hostile_next_out_of_range(void **state)
{
	struct guest *g = *state;

	expect_failed(g, hostile_tx(g, 0x1000, 8, FB_VIRTQ_DESC_F_NEXT, QSIZE));
}

static void test_hostile_avail_jump(void **state)
{
	struct guest *g = *state;
	int fd = host_connect(g);

	vq_driver_set_avail_idx(&g->q[1], (uint16_t)(g->q[1].avail_idx + QSIZE + 5));
	kick(g, 1);
	expect_failed(g, fd);
}

static void test_hostile_rx_too_small(void **state)
{
	struct guest *g = *state;
	int fd;

	/* Rewrite the posted rx buffers so none can hold a header. */
	for (uint16_t i = 0; i < NBUF; i++)
		set_desc(g, 0, 2 * i, RX_HDR(i), 8, FB_VIRTQ_DESC_F_WRITE, 0);
	fd = fb_vsock_connect(g->dev, AGENT_PORT);
	assert_true(fd >= 0);
	expect_failed(g, fd);
}

static void test_hostile_queue_size(void **state)
{
	struct guest *g = *state;

	vq_driver_negotiate(g->dev);
	mmio_w(g, FB_VIRTIO_MMIO_QUEUE_SEL, 0);
	mmio_w(g, FB_VIRTIO_MMIO_QUEUE_NUM, 100);
	mmio_w(g, FB_VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(mmio_r(g, FB_VIRTIO_MMIO_QUEUE_READY), 0);
	expect_failed(g, -1);
}

/* --- gaps found by review: budgets and deadlines ------------------------ */

/* Rewrite every rx buffer the guest has posted (the device has not taken
 * them yet: descriptors are read when a chain is popped). */
static void repost_rx_all(struct guest *g, bool header_only)
{
	g->rx_header_only = header_only;
	for (uint16_t i = 0; i < NBUF; i++)
		set_rx_desc(g, i);
	kick(g, 0);
}

/* Poll the guest for ms milliseconds. */
static void guest_idle(struct guest *g, int ms)
{
	double end = now_s() + ms / 1e3;

	while (now_s() < end)
		guest_poll(g, 5);
}

/* A guest posting only header-sized rx buffers, recycling each at once,
 * while the host has data for it: the device must not fill them with
 * packets that carry nothing (it produced ~10M CREDIT_UPDATEs a second). */
static void test_rx_header_only_buffers_carry_no_storm(void **state)
{
	struct guest *g = *state;
	int fd = host_connect(g);
	char buf[4];
	unsigned before;

	guest_idle(g, 50);
	repost_rx_all(g, true);
	guest_idle(g, 50);
	before = g->rx_packets;
	assert_int_equal(write(fd, "data", 4), 4);
	guest_idle(g, 300);
	printf("# packets into header-only rx buffers in 300 ms: %u\n", g->rx_packets - before);
	assert_true(g->rx_packets - before <= 2);
	assert_int_equal(g->rx_bytes, 0);
	/* Control packets still fit such a buffer: a CREDIT_REQUEST is answered. */
	g->nlog = 0;
	conn_send(g, FB_VSOCK_OP_CREDIT_REQUEST, 0, NULL, 0);
	wait_op(g, FB_VSOCK_OP_CREDIT_UPDATE);
	/* Buffers with room again: the data arrives, the device never failed. */
	repost_rx_all(g, false);
	while (g->rx_bytes < 4) {
		assert_true(g->rx_packets - before < 100);
		guest_poll(g, 10);
	}
	assert_memory_equal(g->last_payload, "data", 4);
	assert_false(fb_vsock_failed(g->dev, NULL, 0));
	conn_send(g, FB_VSOCK_OP_RW, 0, "ok", 2);
	host_read_exact(g, fd, buf, 2);
	close(fd);
}

/* A tx queue the guest breaks after the device's last pop of a round (the
 * check io_round makes before it sleeps) is reported like any other broken
 * queue: DEVICE_NEEDS_RESET, a reason, the host ends closed. */
static void test_tx_broken_after_round_is_reported(void **state)
{
	struct guest *g = *state;
	int fd = host_connect(g);
	char why[FB_ERROR_MAX];
	char c;

	assert_int_equal(fb_vsock_pause(g->dev), 0); /* we play the I/O thread */
	fb_vsock_process_tx(g->dev);
	assert_false(fb_vsock_tx_more(g->dev));
	vq_driver_set_avail_idx(&g->q[1], (uint16_t)(g->q[1].avail_idx + QSIZE + 1));
	assert_false(fb_vsock_tx_more(g->dev));
	assert_true(fb_vsock_failed(g->dev, why, sizeof(why)));
	printf("# %s\n", why);
	assert_non_null(strstr(why, "tx queue"));
	assert_non_null(strstr(why, "avail idx"));
	assert_true(mmio_r(g, FB_VIRTIO_MMIO_STATUS) & FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), 0); /* host end: EOF at once */
	close(fd);
	assert_int_equal(fb_vsock_start(g->dev), 0);
}

/* Poll until the host fd reads EOF; returns the seconds it took. */
static double host_eof_after(struct guest *g, int fd, double t0)
{
	host_expect_eof(g, fd);
	return now_s() - t0;
}

static void test_connect_deadline(void **state)
{
	struct guest *g = *state;
	double took;
	struct fb_vsock_hdr h;
	int fd;

	fb_vsock_set_timeouts(g->dev, 300, 200);
	g->ignore_requests = true;
	fd = host_connect(g); /* the guest sees the REQUEST and stays silent */
	took = host_eof_after(g, fd, now_s());
	printf("# unanswered REQUEST dropped after %.2f s\n", took);
	assert_true(took < 5);
	h = wait_op(g, FB_VSOCK_OP_RST);
	assert_int_equal(le32toh(h.dst_port), AGENT_PORT);
	wait_no_connections(g);
	close(fd);
}

/* Connecting to a guest that posts no rx buffer at all: the REQUEST can
 * never be sent, the connection is dropped at the deadline all the same,
 * and the RST goes out once a buffer comes. */
static void test_connect_deadline_without_rx_buffers(void **state)
{
	struct guest *g = guest_new();
	struct fb_vsock_hdr h;
	double took;
	int fd;

	(void)state;
	g->no_rx_post = true;
	assert_int_equal(fb_vsock_start(g->dev), 0);
	fb_vsock_set_timeouts(g->dev, 300, 200);
	probe(g);
	fd = fb_vsock_connect(g->dev, AGENT_PORT);
	assert_true(fd >= 0);
	took = host_eof_after(g, fd, now_s());
	printf("# REQUEST never sent (no rx buffers): dropped after %.2f s\n", took);
	assert_true(took < 5);
	wait_no_connections(g);
	assert_int_equal(g->rx_packets, 0);
	for (uint16_t i = 0; i < NBUF; i++)
		post_rx(g, i);
	kick(g, 0);
	h = wait_op(g, FB_VSOCK_OP_RST);
	assert_int_equal(le32toh(h.dst_port), AGENT_PORT);
	close(fd);
	guest_free(g);
}

/* The host closes a connection whose guest gives no credit (buf_alloc 0):
 * the device can never read the host socket to EOF, so it gives up on the
 * guest at the close deadline instead of keeping the connection. */
static void test_host_closed_guest_gives_no_credit(void **state)
{
	struct guest *g = *state;
	int fd;
	double t0;

	fb_vsock_set_timeouts(g->dev, 5000, 300);
	g->buf_alloc = 0;
	fd = host_connect(g);
	assert_int_equal(write(fd, "unread", 6), 6);
	guest_idle(g, 50);
	assert_int_equal(fb_vsock_connection_count(g->dev), 1);
	t0 = now_s();
	close(fd);
	wait_no_connections(g);
	printf("# connection without credit dropped %.2f s after the host closed\n", now_s() - t0);
	assert_true(now_s() - t0 >= 0.25);
	assert_int_equal(g->rx_bytes, 0);
	wait_op(g, FB_VSOCK_OP_RST);
}

/* The same with a guest that said SHUTDOWN(RCV) and never acknowledges the
 * host's close. */
static void test_host_closed_guest_shut_rcv(void **state)
{
	struct guest *g = *state;
	int fd;

	fb_vsock_set_timeouts(g->dev, 5000, 300);
	fd = host_connect(g);
	conn_send(g, FB_VSOCK_OP_SHUTDOWN, FB_VSOCK_SHUTDOWN_RCV, NULL, 0);
	guest_idle(g, 50);
	assert_int_equal(write(fd, "unread", 6), 6);
	close(fd);
	wait_no_connections(g);
	assert_int_equal(g->rx_bytes, 0);
}

/* The host closes; the guest gets SHUTDOWN but never answers it. */
static void test_closing_guest_never_answers(void **state)
{
	struct guest *g = *state;
	int fd;

	fb_vsock_set_timeouts(g->dev, 5000, 300);
	fd = host_connect(g);
	close(fd);
	wait_op(g, FB_VSOCK_OP_SHUTDOWN);
	assert_int_equal(fb_vsock_connection_count(g->dev), 1);
	wait_no_connections(g);
	wait_op(g, FB_VSOCK_OP_RST);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_probe_and_refused_features),
	    T(test_connect_and_echo),
	    T(test_bulk_host_to_guest),
	    T(test_bulk_guest_to_host),
	    T(test_credit_request),
	    T(test_guest_rst),
	    T(test_guest_refuses),
	    T(test_guest_shutdown),
	    T(test_host_half_close_then_close),
	    T(test_host_close),
	    T(test_unknown_port_gets_rst),
	    T(test_save_restore),
	    T(test_restore_validates),
	    T(test_hostile_addr_out_of_range),
	    T(test_hostile_len_overflow),
	    T(test_hostile_chain_loop),
	    T(test_hostile_next_out_of_range),
	    T(test_hostile_avail_jump),
	    T(test_hostile_rx_too_small),
	    T(test_hostile_queue_size),
	    T(test_rx_header_only_buffers_carry_no_storm),
	    T(test_tx_broken_after_round_is_reported),
	    T(test_connect_deadline),
	    cmocka_unit_test(test_connect_deadline_without_rx_buffers),
	    T(test_host_closed_guest_gives_no_credit),
	    T(test_host_closed_guest_shut_rcv),
	    T(test_closing_guest_never_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
