// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * rdma-dmabuf-test: RDMA into and out of a VFIO BAR through a dma-buf MR,
 * end to end: libp2pmr exports a range of the BAR and registers it, two
 * connected RC QPs of the RDMA device (rxe) move data, and the bytes are
 * checked where they land: in the host's file behind the BAR (ivshmem) or
 * through the BAR's VFIO mmap. Revocation by the exporter must stop all
 * access, with the completion statuses documented in
 * docs/rxe-dmabuf-mr.md, and traffic must resume once the BAR is back.
 *
 *   rdma-dmabuf-test --list
 *   rdma-dmabuf-test CASE --device BDF [--bar N] [--file F] [--ibdev NAME]
 *                    [--gid N] [--seconds S]
 *
 *   --device  the exporting device (bound to vfio-pci)
 *   --file    the host file backing the BAR (ivshmem), to check bytes
 *   --ibdev   the RDMA device (default rxe0); --gid its GID index (0)
 * Exit status 0 when the case holds.
 */
#define _GNU_SOURCE	/* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/udmabuf.h>

#include "cases.h"
#include "check.h"
#include "p2pmr.h"
#include "pattern.h"
#include "verbs_loop.h"
#include "vfio_ctl.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
/* The MR's own address space: any base with the BAR offset's page offset. */
#define IOVA_BASE 0x7f0000000000ULL
#define ACCESS_ALL (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

struct ctx {
	const char *addr;
	const char *file;
	const char *ibdev;
	int gid;
	int seconds;
	unsigned int bar;
	uint64_t page;
	struct p2pmr_device *dev;
	struct verbs_loop loop;
	volatile uint8_t *bar_map;	/* the BAR through VFIO mmap */
	size_t bar_len;
};

/* Host memory registered with ibv_reg_mr. */
struct host_buf {
	uint8_t *buf;
	size_t len;
	struct ibv_mr *mr;
};

/* A range of the BAR exported and registered as a dma-buf MR. */
struct bar_buf {
	uint64_t offset;	/* in the BAR */
	size_t len;
	int fd;
	struct ibv_mr *mr;
};

static int host_buf_new(struct ctx *c, size_t len, struct host_buf *h)
{
	h->len = len;
	h->buf = aligned_alloc(c->page, len);
	if (!h->buf)
		return -ENOMEM;
	memset(h->buf, 0, len);
	h->mr = ibv_reg_mr(c->loop.pd, h->buf, len, ACCESS_ALL);
	if (h->mr)
		return 0;
	fprintf(stderr, "ibv_reg_mr: %s\n", strerror(errno));
	free(h->buf);
	return -EIO;
}

static void host_buf_free(struct host_buf *h)
{
	ibv_dereg_mr(h->mr);
	free(h->buf);
}

static int reg_dmabuf(struct ctx *c, int fd, uint64_t offset, size_t len, uint64_t iova,
		      int access, struct ibv_mr **mrp)
{
	*mrp = p2pmr_reg_dmabuf_mr(c->loop.pd, offset, len, iova, fd, access);
	if (*mrp)
		return 0;
	fprintf(stderr, "p2pmr_reg_dmabuf_mr: %s\n", p2pmr_last_error());
	return -errno;
}

static int bar_buf_new(struct ctx *c, uint64_t offset, size_t len, struct bar_buf *b)
{
	struct p2pmr_range r = { offset, len };
	int ret;

	b->offset = offset;
	b->len = len;
	ret = p2pmr_dmabuf_export(c->dev, c->bar, &r, 1, &b->fd);
	if (ret) {
		fprintf(stderr, "export: %s\n", p2pmr_last_error());
		return ret;
	}
	ret = reg_dmabuf(c, b->fd, 0, len, IOVA_BASE + offset, ACCESS_ALL, &b->mr);
	if (ret)
		close(b->fd);
	else
		printf("BAR%u+0x%" PRIx64 " (%zu KiB) registered through %s: lkey 0x%x rkey 0x%x\n",
		       c->bar, offset, len / KIB,
		       p2pmr_mr_is_fallback(b->mr) ? "UVERBS_METHOD_REG_DMABUF_MR" :
		       "ibv_reg_dmabuf_mr", b->mr->lkey, b->mr->rkey);
	return ret;
}

static void bar_buf_free(struct bar_buf *b)
{
	p2pmr_dereg_mr(b->mr);
	close(b->fd);
}

static uint64_t bar_iova(const struct bar_buf *b, uint64_t off)
{
	return IOVA_BASE + b->offset + off;
}

/* The BAR's bytes as the host sees them (file), else through the mmap. */
static int bar_read(struct ctx *c, uint64_t off, void *buf, size_t len)
{
	size_t i;

	if (c->file)
		return host_file_read(c->file, off, buf, len);
	for (i = 0; i < len; i++)
		((uint8_t *)buf)[i] = c->bar_map[off + i];
	return 0;
}

static void bar_write(struct ctx *c, uint64_t off, const void *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		((volatile uint64_t *)(c->bar_map + off))[i] = ((const uint64_t *)buf)[i];
}

static int expect_bar(struct ctx *c, uint64_t off, const void *want, size_t len,
		      const char *what)
{
	uint8_t *got = malloc(len);
	size_t i;
	int ret;

	if (!got)
		return -ENOMEM;
	ret = bar_read(c, off, got, len);
	for (i = 0; !ret && i < len; i++)
		if (got[i] != ((const uint8_t *)want)[i]) {
			ret = fail("%s: BAR byte 0x%" PRIx64 " is 0x%02x, expected 0x%02x (%s)",
				   what, off + i, got[i], ((const uint8_t *)want)[i],
				   c->file ? "host file" : "VFIO mmap");
			break;
		}
	free(got);
	return ret;
}

#define CHECK_WC(expr, want)							\
	do {									\
		int __s = (expr);						\
		if (__s != (want))						\
			return fail("%s:%d: %s: expected %s, got %s", __FILE__,	\
				    __LINE__, #expr, ibv_wc_status_str(want),	\
				    __s < 0 ? strerror(-__s) :			\
				    ibv_wc_status_str(__s));			\
	} while (0)

static int case_write_into_bar(struct ctx *c)
{
	struct host_buf h;
	struct bar_buf b;
	size_t off, len = 256 * KIB, msg = 64 * KIB;

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, 5 * MIB, len, &b));
	pattern_fill((uint64_t *)h.buf, len, 0x17e);
	for (off = 0; off < len; off += msg)
		CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf + off, msg,
				  h.mr->lkey, bar_iova(&b, off), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(expect_bar(c, b.offset, h.buf, len, "RDMA WRITE"));
	printf("%zu KiB written by RDMA WRITE are in the BAR\n", len / KIB);
	bar_buf_free(&b);
	host_buf_free(&h);
	return 0;
}

static int case_read_from_bar(struct ctx *c)
{
	size_t len = 128 * KIB;
	uint64_t *want = malloc(len);
	struct host_buf h;
	struct bar_buf b;

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, 6 * MIB, len, &b));
	pattern_fill(want, len, 0x2ead);
	bar_write(c, b.offset, want, len);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_READ, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	if (memcmp(h.buf, want, len))
		return fail("RDMA READ from the BAR MR returned other bytes than the BAR holds");
	printf("%zu KiB read by RDMA READ match the BAR\n", len / KIB);
	bar_buf_free(&b);
	host_buf_free(&h);
	free(want);
	return 0;
}

/* SEND [@src, +@len) of @src_lkey into a receive of [@dst, +@len) of @dst_lkey. */
static int send_recv(struct ctx *c, uint64_t src, uint32_t src_lkey, uint64_t dst,
		     uint32_t dst_lkey, size_t len, const char *what)
{
	struct ibv_wc wc[2];

	CHECK_OK(loop_post_recv(&c->loop, dst, len, dst_lkey));
	CHECK_OK(loop_post(&c->loop, IBV_WR_SEND, src, len, src_lkey, 0, 0, 0, 0));
	CHECK_OK(loop_wait(&c->loop, &wc[0]));
	CHECK_OK(loop_wait(&c->loop, &wc[1]));
	if (wc[0].status || wc[1].status)
		return fail("SEND %s: completions %s, %s", what,
			    ibv_wc_status_str(wc[0].status), ibv_wc_status_str(wc[1].status));
	return 0;
}

static int case_send_into_bar(struct ctx *c)
{
	size_t len = 16 * KIB;
	struct host_buf h;
	struct bar_buf b;

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, 7 * MIB, len, &b));
	pattern_fill((uint64_t *)h.buf, len, 0x5e9d);
	CHECK_OK(send_recv(c, (uintptr_t)h.buf, h.mr->lkey, bar_iova(&b, 0), b.mr->lkey, len,
			   "into a BAR MR"));
	CHECK_OK(expect_bar(c, b.offset, h.buf, len, "SEND/RECV"));
	printf("a %zu KiB SEND received into the BAR MR is in the BAR\n", len / KIB);
	bar_buf_free(&b);
	host_buf_free(&h);
	return 0;
}

static int case_send_from_bar(struct ctx *c)
{
	size_t len = 16 * KIB;
	uint64_t *want = malloc(len);
	struct host_buf h;
	struct bar_buf b;

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, 7 * MIB + 64 * KIB, len, &b));
	pattern_fill(want, len, 0xf00d);
	bar_write(c, b.offset, want, len);
	CHECK_OK(send_recv(c, bar_iova(&b, 0), b.mr->lkey, (uintptr_t)h.buf, h.mr->lkey, len,
			   "from a BAR MR"));
	if (memcmp(h.buf, want, len))
		return fail("the receiver got other bytes than the BAR MR holds");
	printf("a %zu KiB SEND gathered from the BAR MR arrived intact\n", len / KIB);
	bar_buf_free(&b);
	host_buf_free(&h);
	free(want);
	return 0;
}

/*
 * A stream of SENDs received into BAR MR slots, the receive queue kept
 * full (what ib_send_bw does): every message must land, in order.
 */
static int case_send_stream(struct ctx *c)
{
	const unsigned int slots = 16, count = 300;
	size_t msg = 16 * KIB, len = slots * msg;
	unsigned int posted = 0, sent = 0, received = 0, sends_done = 0;
	struct host_buf h;
	struct bar_buf b;
	struct ibv_wc wc;
	uint64_t *want = malloc(msg);

	CHECK_OK(host_buf_new(c, msg, &h));
	CHECK_OK(bar_buf_new(c, 14 * MIB, len, &b));
	for (; posted < slots; posted++)
		CHECK_OK(loop_post_recv(&c->loop, bar_iova(&b, (posted % slots) * msg), msg,
					b.mr->lkey));
	while (received < count) {
		/* One SEND in flight: its host buffer is refilled for the next. */
		if (sent < count && sent == sends_done) {
			pattern_fill((uint64_t *)h.buf, msg, 0x5000 + sent);
			CHECK_OK(loop_post(&c->loop, IBV_WR_SEND, (uintptr_t)h.buf, msg,
					   h.mr->lkey, 0, 0, 0, 0));
			sent++;
		}
		CHECK_OK(loop_wait(&c->loop, &wc));
		if (wc.status)
			return fail("message %u of %u: %s completion %s (%u received)",
				    sent, count, wc.opcode & IBV_WC_RECV ? "receive" : "send",
				    ibv_wc_status_str(wc.status), received);
		if (!(wc.opcode & IBV_WC_RECV)) {
			sends_done++;
			continue;
		}
		pattern_fill(want, msg, 0x5000 + received);
		CHECK_OK(expect_bar(c, b.offset + (received % slots) * msg, want, msg,
				    "SEND stream"));
		received++;
		if (posted < count) {
			CHECK_OK(loop_post_recv(&c->loop, bar_iova(&b, (posted % slots) * msg),
						msg, b.mr->lkey));
			posted++;
		}
	}
	printf("%u SENDs of %zu KiB received in turn into %u BAR MR slots, all intact\n",
	       count, msg / KIB, slots);
	bar_buf_free(&b);
	host_buf_free(&h);
	free(want);
	return 0;
}

static int atomic_op(struct ctx *c, struct host_buf *h, struct bar_buf *b, enum ibv_wr_opcode op,
		     uint64_t compare_add, uint64_t swap, uint64_t *orig)
{
	struct ibv_wc wc;

	CHECK_OK(loop_post(&c->loop, op, (uintptr_t)h->buf, 8, h->mr->lkey, bar_iova(b, 8),
			   b->mr->rkey, compare_add, swap));
	CHECK_OK(loop_wait(&c->loop, &wc));
	if (wc.status)
		return fail("atomic on a BAR MR: %s", ibv_wc_status_str(wc.status));
	memcpy(orig, h->buf, 8);
	return 0;
}

/* Atomics on I/O memory are serialised read-modify-writes (see the docs). */
static int case_atomics(struct ctx *c)
{
	uint64_t v = 0x1000, orig, final;
	struct host_buf h;
	struct bar_buf b;
	int i;

	CHECK_OK(host_buf_new(c, c->page, &h));
	CHECK_OK(bar_buf_new(c, 8 * MIB, c->page, &b));
	bar_write(c, b.offset + 8, &v, 8);
	for (i = 0; i < 100; i++) {
		CHECK_OK(atomic_op(c, &h, &b, IBV_WR_ATOMIC_FETCH_AND_ADD, 3, 0, &orig));
		if (orig != v + 3 * i)
			return fail("fetch-and-add %d returned 0x%" PRIx64 ", expected 0x%" PRIx64,
				    i, orig, v + 3 * i);
	}
	v += 300;
	CHECK_OK(atomic_op(c, &h, &b, IBV_WR_ATOMIC_CMP_AND_SWP, v + 1, 0xabc, &orig));
	if (orig != v)
		return fail("failing compare-and-swap returned 0x%" PRIx64, orig);
	CHECK_OK(atomic_op(c, &h, &b, IBV_WR_ATOMIC_CMP_AND_SWP, v, 0xabc, &orig));
	CHECK_OK(bar_read(c, b.offset + 8, &final, 8));
	if (orig != v || final != 0xabc)
		return fail("compare-and-swap: returned 0x%" PRIx64 ", BAR holds 0x%" PRIx64,
			    orig, final);
	printf("100 fetch-and-adds and 2 compare-and-swaps on the BAR MR are exact\n");
	bar_buf_free(&b);
	host_buf_free(&h);
	return 0;
}

/* A dma-buf with struct pages: udmabuf over a memfd. */
static int case_udmabuf(struct ctx *c)
{
	size_t len = MIB, xfer = 64 * KIB;
	struct udmabuf_create create = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = len };
	struct host_buf h;
	struct ibv_mr *mr;
	uint8_t *mem;
	int memfd, dev, fd;

	memfd = memfd_create("p2pmr-udmabuf", MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, len) || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		return fail("memfd: %s", strerror(errno));
	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return fail("/dev/udmabuf: %s (kernel without CONFIG_UDMABUF?)", strerror(errno));
	create.memfd = memfd;
	fd = ioctl(dev, UDMABUF_CREATE, &create);
	if (fd < 0)
		return fail("UDMABUF_CREATE: %s", strerror(errno));
	close(dev);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		return fail("mmap memfd: %s", strerror(errno));

	CHECK_OK(host_buf_new(c, xfer, &h));
	CHECK_OK(reg_dmabuf(c, fd, 256 * KIB, xfer, IOVA_BASE, ACCESS_ALL, &mr));
	pattern_fill((uint64_t *)h.buf, xfer, 0xdb);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, xfer, h.mr->lkey,
			  IOVA_BASE, mr->rkey), IBV_WC_SUCCESS);
	if (memcmp(mem + 256 * KIB, h.buf, xfer))
		return fail("RDMA WRITE into the udmabuf MR did not land in the memfd");
	pattern_fill((uint64_t *)(mem + 256 * KIB), xfer, 0xdc);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_READ, (uintptr_t)h.buf, xfer, h.mr->lkey,
			  IOVA_BASE, mr->rkey), IBV_WC_SUCCESS);
	if (memcmp(mem + 256 * KIB, h.buf, xfer))
		return fail("RDMA READ from the udmabuf MR returned other bytes");
	printf("RDMA WRITE and READ on a udmabuf MR (%s)\n",
	       p2pmr_mr_is_fallback(mr) ? "UVERBS_METHOD_REG_DMABUF_MR" : "ibv_reg_dmabuf_mr");
	CHECK_OK(p2pmr_dereg_mr(mr));
	host_buf_free(&h);
	munmap(mem, len);
	close(fd);
	close(memfd);
	return 0;
}

/*
 * Registration must fail with @want, through the library and through the
 * kernel's own method (the library checks some arguments itself).
 */
static int expect_reg_error(struct ctx *c, const char *what, int fd, uint64_t offset,
			    size_t len, uint64_t iova, int access, int want)
{
	struct ibv_mr *mr = p2pmr_reg_dmabuf_mr(c->loop.pd, offset, len, iova, fd, access);
	struct p2pmr_mr_keys keys;
	int ret;

	if (mr) {
		p2pmr_dereg_mr(mr);
		return fail("%s: registered, expected %s", what, strerror(want));
	}
	if (errno != want)
		return fail("%s: expected %s, got %s (%s)", what, strerror(want), strerror(errno),
			    p2pmr_last_error());
	printf("%s: %s (\"%s\")\n", what, strerror(want), p2pmr_last_error());
	ret = p2pmr_uverbs_reg_dmabuf_mr(c->loop.ctx->cmd_fd, c->loop.pd->handle, offset, len,
					 iova, fd, access, &keys);
	if (!ret)
		p2pmr_uverbs_dereg_mr(c->loop.ctx->cmd_fd, keys.handle);
	if (ret != -want)
		return fail("%s: the kernel said %s, expected %s", what,
			    ret ? strerror(-ret) : "success", strerror(want));
	return 0;
}

static int case_bad_input(struct ctx *c)
{
	struct p2pmr_range scattered[2] = { { 0, c->page }, { 4 * c->page, c->page } };
	size_t len = 64 * KIB;
	struct bar_buf b;
	int fd, sfd, memfd;

	CHECK_OK(p2pmr_dmabuf_export(c->dev, c->bar, &(struct p2pmr_range){ 9 * MIB, len }, 1, &fd));
	CHECK_OK(p2pmr_dmabuf_export(c->dev, c->bar, scattered, 2, &sfd));
	memfd = memfd_create("p2pmr-not-a-dmabuf", 0);
	if (memfd < 0 || ftruncate(memfd, len))
		return fail("memfd: %s", strerror(errno));

	if (expect_reg_error(c, "range past the end of the dma-buf", fd, c->page, len,
			     IOVA_BASE, ACCESS_ALL, EINVAL) ||
	    expect_reg_error(c, "offset past the end of the dma-buf", fd, len, c->page,
			     IOVA_BASE, ACCESS_ALL, EINVAL) ||
	    expect_reg_error(c, "zero length", fd, 0, 0, IOVA_BASE, ACCESS_ALL, EINVAL) ||
	    expect_reg_error(c, "iova at another offset in a page than offset", fd, 0, len,
			     IOVA_BASE + 8, ACCESS_ALL, EINVAL) ||
	    expect_reg_error(c, "memory window access", fd, 0, len, IOVA_BASE,
			     ACCESS_ALL | IBV_ACCESS_MW_BIND, EINVAL) ||
	    expect_reg_error(c, "remote write without local write", fd, 0, len, IOVA_BASE,
			     IBV_ACCESS_REMOTE_WRITE, EINVAL) ||
	    expect_reg_error(c, "a memfd is not a dma-buf", memfd, 0, len, IOVA_BASE,
			     ACCESS_ALL, EINVAL) ||
	    expect_reg_error(c, "a closed fd", 1000, 0, len, IOVA_BASE, ACCESS_ALL, EBADF) ||
	    expect_reg_error(c, "ranges not contiguous in the BAR (no vmap)", sfd, 0, 2 * c->page,
			     IOVA_BASE, ACCESS_ALL, EOPNOTSUPP))
		return 1;
	close(memfd);
	close(sfd);
	close(fd);
	/* Nothing was left half done: a good registration still works. */
	CHECK_OK(bar_buf_new(c, 9 * MIB, len, &b));
	bar_buf_free(&b);
	return 0;
}

/*
 * Clearing memory decode revokes the dma-buf: RDMA into or out of the MR
 * fails with the IB errors (remote access error for the target, local
 * protection error for a local SGE) and not a byte reaches the BAR; with
 * decode back, the same MR works again on new QPs.
 */
static int case_revoke_memory_disable(struct ctx *c)
{
	size_t len = 64 * KIB;
	struct host_buf h, h2;
	struct bar_buf b;
	struct ibv_wc wc;
	uint8_t *before = malloc(len);

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(host_buf_new(c, len, &h2));
	CHECK_OK(bar_buf_new(c, 10 * MIB, len, &b));
	pattern_fill((uint64_t *)h.buf, len, 1);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(bar_read(c, b.offset, before, len));

	CHECK_OK(vfio_set_memory_decode(c->dev, false));
	pattern_fill((uint64_t *)h.buf, len, 2);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_REM_ACCESS_ERR);
	CHECK_OK(loop_connect(&c->loop));
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_READ, (uintptr_t)h2.buf, len, h2.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_REM_ACCESS_ERR);
	CHECK_OK(loop_connect(&c->loop));
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, bar_iova(&b, 0), len, b.mr->lkey,
			  (uintptr_t)h2.buf, h2.mr->rkey), IBV_WC_LOC_PROT_ERR);
	CHECK_OK(loop_connect(&c->loop));
	CHECK_OK(loop_post_recv(&c->loop, bar_iova(&b, 0), len, b.mr->lkey));
	CHECK_OK(loop_post(&c->loop, IBV_WR_SEND, (uintptr_t)h.buf, len, h.mr->lkey, 0, 0, 0, 0));
	CHECK_OK(loop_wait(&c->loop, &wc));
	if (wc.status == IBV_WC_SUCCESS)
		return fail("SEND into a revoked BAR MR succeeded");
	printf("while revoked: WRITE and READ to the MR give %s, a local SGE %s, a receive %s\n",
	       ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR), ibv_wc_status_str(IBV_WC_LOC_PROT_ERR),
	       ibv_wc_status_str(wc.status));
	CHECK_OK(vfio_set_memory_decode(c->dev, true));
	CHECK_OK(expect_bar(c, b.offset, before, len, "after the revoke"));

	CHECK_OK(loop_connect(&c->loop));
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(expect_bar(c, b.offset, h.buf, len, "after restore"));
	printf("no byte reached the BAR while revoked; the same MR works after restore\n");
	bar_buf_free(&b);
	host_buf_free(&h2);
	host_buf_free(&h);
	free(before);
	return 0;
}

/* A reset revokes and restores within the ioctl: the MR keeps working. */
static int case_revoke_reset(struct ctx *c)
{
	size_t len = 64 * KIB;
	struct host_buf h;
	struct bar_buf b;

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, 11 * MIB, len, &b));
	pattern_fill((uint64_t *)h.buf, len, 3);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(vfio_reset(c->dev));
	pattern_fill((uint64_t *)h.buf, len, 4);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(expect_bar(c, b.offset, h.buf, len, "after a reset"));
	printf("the MR maps the BAR again after VFIO_DEVICE_RESET\n");
	bar_buf_free(&b);
	host_buf_free(&h);
	return 0;
}

/*
 * Register again while a toggler revokes the BAR now and then: a revoked
 * dma-buf cannot be registered (ENODEV), so retry, counting refusals.
 */
static int bar_buf_renew(struct ctx *c, uint64_t offset, size_t len, struct bar_buf *b,
			 unsigned int *refused)
{
	int tries, ret = -ENODEV;

	for (tries = 0; tries < 100 && ret == -ENODEV; tries++) {
		ret = bar_buf_new(c, offset, len, b);
		if (ret == -ENODEV) {
			++*refused;
			usleep(10 * 1000);
		}
	}
	return ret;
}

struct toggler {
	struct ctx *c;
	volatile bool stop;
	unsigned int revokes;
	int err;
};

static void *toggle_decode(void *arg)
{
	struct toggler *t = arg;
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	while (!t->stop && !t->err) {
		t->err = vfio_set_memory_decode(t->c->dev, false);
		nanosleep(&pause, NULL);
		if (!t->err)
			t->err = vfio_set_memory_decode(t->c->dev, true);
		if (!(t->revokes++ % 4) && !t->err)
			t->err = vfio_reset(t->c->dev);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

struct traffic {
	unsigned int ok, revoked, refused;
};

static int traffic_run(struct ctx *c, struct host_buf *h, struct bar_buf *b, struct traffic *tr)
{
	time_t end = time(NULL) + c->seconds;
	unsigned int cycles = 0;
	int s;

	while (time(NULL) < end) {
		s = loop_run(&c->loop, cycles & 1 ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE,
			     (uintptr_t)h->buf, h->len, h->mr->lkey, bar_iova(b, 0), b->mr->rkey);
		if (s == IBV_WC_SUCCESS) {
			tr->ok++;
		} else if (s == IBV_WC_REM_ACCESS_ERR) {
			tr->revoked++;
			CHECK_OK(loop_connect(&c->loop));
		} else {
			return fail("work request %u ended in %s", tr->ok + tr->revoked,
				    s < 0 ? strerror(-s) : ibv_wc_status_str(s));
		}
		if (!(++cycles % 16)) {
			/* dereg and QP destroy while revocations come */
			bar_buf_free(b);
			CHECK_OK(bar_buf_renew(c, b->offset, b->len, b, &tr->refused));
			CHECK_OK(loop_connect(&c->loop));
		}
	}
	return 0;
}

/*
 * Traffic while decode toggles and resets run: every work request ends in
 * success or in a remote access error, nothing hangs; QPs are destroyed and
 * MRs deregistered and registered while revocations come.
 */
static int case_revoke_mid_traffic(struct ctx *c)
{
	struct toggler t = { .c = c };
	struct traffic tr = { 0 };
	struct host_buf h;
	struct bar_buf b;
	pthread_t thread;
	int ret;

	CHECK_OK(host_buf_new(c, 16 * KIB, &h));
	CHECK_OK(bar_buf_new(c, 12 * MIB, 16 * KIB, &b));
	if (pthread_create(&thread, NULL, toggle_decode, &t))
		return fail("pthread_create failed");
	ret = traffic_run(c, &h, &b, &tr);
	t.stop = true;
	pthread_join(thread, NULL);
	if (ret)
		return ret;
	if (t.err)
		return fail("toggling decode: %s", strerror(-t.err));
	CHECK_OK(vfio_set_memory_decode(c->dev, true));
	CHECK_OK(loop_connect(&c->loop));
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, h.len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	printf("%d s: %u work requests succeeded, %u met a revoked MR, %u revocations, %u registrations refused (ENODEV)\n",
	       c->seconds, tr.ok, tr.revoked, t.revokes, tr.refused);
	if (!tr.ok)
		return fail("no work request succeeded");
	bar_buf_free(&b);
	host_buf_free(&h);
	return 0;
}

/* "Total N objects" of the dma-buf debugfs file: live dma-bufs. */
static int count_dmabufs(void)
{
	FILE *f = fopen("/sys/kernel/debug/dma_buf/bufinfo", "re");
	char line[256];
	int n = -1;

	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "Total %d objects", &n);
	if (f)
		fclose(f);
	return n;
}

/* "mr N" of the device in `rdma resource show`: live MRs. */
static int count_mrs(struct ctx *c)
{
	char cmd[128], line[512], *p;
	int n = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "rdma resource show %s 2>/dev/null", c->ibdev);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f))
		if ((p = strstr(line, " mr ")))
			n = atoi(p + 4);
	if (f)
		pclose(f);
	return n;
}

/*
 * A process killed while its MR takes traffic leaves nothing behind. The
 * child opens its own verbs context: objects made through an inherited one
 * would belong to the parent's file and outlive the child.
 */
static int case_killed_process(struct ctx *c)
{
	int bufs = count_dmabufs(), mrs = count_mrs(c), status, tries;
	int pipefd[2];
	char ready;
	pid_t pid;

	if (bufs < 0 || mrs < 0)
		return fail("cannot count dma-bufs (debugfs) or MRs (rdma resource show)");
	if (pipe(pipefd))
		return fail("pipe: %s", strerror(errno));
	pid = fork();
	if (!pid) {
		struct host_buf h;
		struct bar_buf b;

		if (loop_open(&c->loop, c->ibdev, c->gid) || host_buf_new(c, 64 * KIB, &h) || bar_buf_new(c, 13 * MIB, 64 * KIB, &b))
			_exit(1);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, 64 * KIB,
				 h.mr->lkey, bar_iova(&b, 0), b.mr->rkey);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &ready, 1) != 1)
		return fail("the child did not get its MR");
	usleep(300 * 1000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	/* The last references go in deferred work (fput, rxe pool cleanup). */
	for (tries = 0; tries < 100; tries++) {
		if (count_dmabufs() == bufs && count_mrs(c) == mrs)
			break;
		usleep(100 * 1000);
	}
	if (count_dmabufs() != bufs || count_mrs(c) != mrs)
		return fail("after the kill: %d dma-bufs (%d before), %d MRs (%d before)",
			    count_dmabufs(), bufs, count_mrs(c), mrs);
	printf("killed with a live MR under traffic: dma-bufs %d, MRs %d, as before\n",
	       bufs, mrs);
	return 0;
}

struct test_case {
	const char *name;
	const char *desc;
	int (*fn)(struct ctx *c);
	bool own_loop;	/* opens its verbs objects itself */
};

static const struct test_case cases[] = {
	{ "write-into-bar", "RDMA WRITE from host memory lands in the BAR (host file)", case_write_into_bar, false },
	{ "read-from-bar", "RDMA READ from the BAR MR returns the BAR's bytes", case_read_from_bar, false },
	{ "send-into-bar", "SEND received into a BAR MR lands in the BAR", case_send_into_bar, false },
	{ "send-from-bar", "SEND gathered from a BAR MR arrives intact", case_send_from_bar, false },
	{ "send-stream", "300 SENDs received in turn into 16 BAR MR slots (as ib_send_bw does)", case_send_stream, false },
	{ "atomics", "fetch-and-add and compare-and-swap on a BAR MR are exact", case_atomics, false },
	{ "udmabuf", "RDMA WRITE and READ on a udmabuf (struct page) dma-buf MR", case_udmabuf, false },
	{ "bad-input", "bad ranges, iova, access flags and fds are refused with clear errnos", case_bad_input, false },
	{ "revoke-memory-disable", "clearing decode: remote access / local protection errors, no byte written; restore works", case_revoke_memory_disable, false },
	{ "revoke-reset", "the MR works again after VFIO_DEVICE_RESET", case_revoke_reset, false },
	{ "revoke-mid-traffic", "traffic, dereg and QP destroy while decode toggles and resets run", case_revoke_mid_traffic, false },
	{ "killed-process", "a process killed with a live MR under traffic leaves no dma-buf or MR", case_killed_process, true },
};

static void usage(void)
{
	fprintf(stderr, "usage: rdma-dmabuf-test --list | CASE --device BDF [--bar N] [--file F] [--ibdev NAME] [--gid N] [--seconds S]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "bar", required_argument, NULL, 'b' },
		{ "file", required_argument, NULL, 'f' },
		{ "ibdev", required_argument, NULL, 'i' },
		{ "gid", required_argument, NULL, 'g' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctx c = { .bar = 2, .ibdev = "rxe0", .seconds = 10 };
	const struct test_case *tc = NULL;
	void *map;
	int opt, ret;

	if (argc == 2 && !strcmp(argv[1], "--list")) {
		CASES_PRINT(cases);
		return 0;
	}
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': c.addr = optarg; break;
		case 'b': c.bar = atoi(optarg); break;
		case 'f': c.file = optarg; break;
		case 'i': c.ibdev = optarg; break;
		case 'g': c.gid = atoi(optarg); break;
		case 's': c.seconds = atoi(optarg); break;
		default: usage(); return 2;
		}
	}
	tc = CASES_FIND(cases, optind < argc ? argv[optind] : NULL);
	if (!tc || !c.addr) {
		usage();
		return 2;
	}
	c.page = sysconf(_SC_PAGESIZE);
	if (p2pmr_device_open(c.addr, P2PMR_VFIO_API_AUTO, &c.dev))
		return fail("%s", p2pmr_last_error());
	if (p2pmr_bar_mmap(c.dev, c.bar, &map, &c.bar_len))
		return fail("%s", p2pmr_last_error());
	c.bar_map = map;
	if (!tc->own_loop && loop_open(&c.loop, c.ibdev, c.gid))
		return 1;
	ret = tc->fn(&c);
	loop_close(&c.loop);
	p2pmr_bar_munmap(map, c.bar_len);
	p2pmr_device_close(c.dev);
	return ret;
}
