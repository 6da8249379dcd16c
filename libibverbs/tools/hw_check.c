// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr hw-check: the checks that make sense on a real machine, one verdict
 * each. A window of HWC_WINDOW bytes of a BAR is exported as one dma-buf;
 * MRs over parts of it (the slots below) are registered on an RDMA device
 * whose two RC QPs reach each other through the port (rdma_loop.c), so
 * every byte goes through the NIC; what lands is read back through the
 * BAR's VFIO mmap. Revocation is by memory decode off (PCI_COMMAND through
 * the VFIO config region) and by VFIO_DEVICE_RESET, with RDMA WRITEs
 * running; what the completions must say, and whether the same MR works
 * after the restore, depends on how the device's driver imports dma-bufs
 * (docs/rdma-importers.md): see enum import_mode.
 *
 * Each check prints "verdict: NAME PASS|FAIL|SKIP: detail" as its last
 * line; scripts/hw-check adds perftest and the table. The BAR window is
 * overwritten: nothing else may use the device (it is bound to vfio-pci).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <infiniband/verbs.h>

#include "hw_check.h"
#include "p2pmr.h"
#include "rdma_loop.h"
#include "rdma_opts.h"
#include "sizes.h"

#define KIB		((size_t)1 << 10)
#define SLOT		(64 * KIB)
/* The slots of the window, each SLOT bytes, one use each. */
enum {
	SLOT_PROVIDER,		/* the provider's MR */
	SLOT_KERNEL,		/* the kernel method's MR */
	SLOT_WRITE,		/* 4 slots: 256 KiB by RDMA WRITE */
	SLOT_READ = SLOT_WRITE + 4,	/* 2 slots: 128 KiB by RDMA READ */
	SLOT_SEND_IN = SLOT_READ + 2,
	SLOT_SEND_OUT,
	SLOT_ATOMIC,
	SLOT_REVOKE_DECODE,
	SLOT_REVOKE_RESET,
	SLOTS
};
#define HWC_WINDOW	((uint64_t)1 << 20)	/* SLOTS * SLOT fit */
#define HOST_LEN	(256 * KIB)
#define MSG		SLOT
#define SEND_LEN	(16 * KIB)
#define DEPTH		4
#define WAIT_MS		10000
#define IOVA_BASE	0x7f0000000000ULL
#define ACCESS_ALL	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define DETAIL		512

/*
 * How the driver imports a dma-buf, which says what a revoke looks like
 * (docs/rdma-importers.md, "Per importer").
 */
enum import_mode {
	/* rxe: CPU access. Remote access error; the same MR works after restore. */
	IMPORT_CPU,
	/* mlx5 with ODP: dynamic. Error completions; the same MR works after restore. */
	IMPORT_DYNAMIC,
	/* mlx5 without ODP: pinned revocable. Error completions; fenced until re-registered. */
	IMPORT_PINNED,
	/* Another driver: any error completion; say what happens after restore. */
	IMPORT_UNKNOWN,
};

static const char *const import_names[] = {
	[IMPORT_CPU] = "CPU access (rxe)",
	[IMPORT_DYNAMIC] = "dynamic, ODP (mlx5)",
	[IMPORT_PINNED] = "pinned revocable, no ODP (mlx5)",
	[IMPORT_UNKNOWN] = "unknown driver",
};

enum verdict { PASS, FAIL, SKIP };
static const char *const verdict_names[] = { "PASS", "FAIL", "SKIP" };

struct hwc_opts {
	const char *pci;
	int bar;			/* -1: not given */
	uint64_t offset;		/* of the window in the BAR */
	struct rdma_opts rdma;
	unsigned int seconds;		/* traffic around each revocation, at most */
};

struct hwc {
	struct hwc_opts o;
	struct p2pmr_device *dev;
	struct p2pmr_bar_info info;
	volatile uint8_t *map;		/* the BAR through VFIO mmap */
	size_t map_len;
	int fd;				/* the window's dma-buf, or -1 */
	struct rdma_loop loop;
	bool loop_ok;
	uint64_t *host;			/* HOST_LEN bytes of host memory */
	struct ibv_mr *host_mr;
	struct p2pmr_mr *data_mr;	/* the whole window, for the data checks */
	enum import_mode mode;
	char driver[64];
	unsigned int failed;
};

/* --- Options --- */

void hw_check_usage(FILE *out)
{
	struct rdma_opts defaults;

	rdma_opts_init(&defaults, NULL);
	fprintf(out,
		"usage: p2pmr hw-check PCI --bar N [--offset O] [options]\n"
		"  the checks for real hardware, a verdict each (PASS, FAIL or SKIP with the\n"
		"  reason): dma-buf export of 1 MiB of BAR N from offset O (default 0), MR\n"
		"  registration by the provider and by the kernel method, RDMA WRITE, READ,\n"
		"  SEND and atomics into the BAR through the RDMA device's own port, checked\n"
		"  through VFIO mmap, and revocation by memory decode off and by reset while\n"
		"  RDMA WRITEs run. The window is overwritten. scripts/hw-check runs it.\n"
		"  -b, --bar N            the BAR\n"
		"  -o, --offset O         the window's offset in the BAR (page multiple)\n");
	rdma_opts_usage(out, &defaults);
	fprintf(out,
		"  -s, --seconds S        traffic around each revocation, at most (default 10)\n");
}

static const struct option hwc_long_opts[] = {
	{ "bar", required_argument, NULL, 'b' },
	{ "offset", required_argument, NULL, 'o' },
	RDMA_OPT_IB_DEV,
	RDMA_OPT_IB_PORT,
	RDMA_OPT_GID_INDEX,
	{ "seconds", required_argument, NULL, 's' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

/* 0, 1 (--help shown), or the exit status 2 for a usage error. */
static int hwc_parse(struct hwc_opts *o, int argc, char **argv)
{
	uint64_t v = 0;
	int c, ret;

	*o = (struct hwc_opts){ .bar = -1, .seconds = 10 };
	rdma_opts_init(&o->rdma, NULL);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:o:s:h" RDMA_OPTS_SHORT, hwc_long_opts,
				NULL)) != -1) {
		ret = rdma_opt(&o->rdma, c, optarg, "p2pmr hw-check");
		if (ret != ENOENT) {
			if (ret)
				return 2;
			continue;
		}
		switch (c) {
		case 'b':
			ret = size_opt("p2pmr hw-check", "BAR", optarg, 0, P2PMR_MAX_BARS - 1, &v);
			o->bar = v;
			break;
		case 'o':
			ret = size_opt("p2pmr hw-check", "offset", optarg, 0, UINT64_MAX, &o->offset);
			break;
		case 's':
			ret = size_opt("p2pmr hw-check", "seconds", optarg, 1, 3600, &v);
			o->seconds = v;
			break;
		case 'h':
			hw_check_usage(stdout);
			return 1;
		default:
			hw_check_usage(stderr);
			return 2;
		}
		if (ret)
			return ret;
	}
	if (optind != argc - 1 || o->bar < 0) {
		fprintf(stderr, "p2pmr hw-check: %s\n",
			optind > argc - 1 ? "name the PCI device" :
			optind < argc - 1 ? "one PCI device only" : "--bar N is needed");
		hw_check_usage(stderr);
		return 2;
	}
	o->pci = argv[optind];
	return 0;
}

/* --- Verdicts --- */

static enum verdict verdict(struct hwc *h, const char *name, enum verdict v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum verdict verdict(struct hwc *h, const char *name, enum verdict v, const char *fmt, ...)
{
	char detail[DETAIL];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (v == FAIL)
		h->failed++;
	printf("verdict: %s %s: %s\n", name, verdict_names[v], detail);
	fflush(stdout);
	return v;
}

/* --- The BAR through VFIO mmap, and test data --- */

static uint64_t pattern_word(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void pattern_fill(uint64_t *w, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pattern_word(seed, i);
}

/* Word @i of window slot @slot, through the mapping. */
static volatile uint64_t *bar_word(struct hwc *h, unsigned int slot, size_t i)
{
	return (volatile uint64_t *)(h->map + h->o.offset + slot * SLOT) + i;
}

static void bar_put(struct hwc *h, unsigned int slot, const uint64_t *w, size_t len)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		*bar_word(h, slot, i) = w[i];
}

/* The first word of the slot that differs from @want, or -1. */
static ssize_t bar_differs(struct hwc *h, unsigned int slot, const uint64_t *want, size_t len)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (*bar_word(h, slot, i) != want[i])
			return i;
	return -1;
}

/* BAR offset of word @i of slot @slot, for messages. */
static uint64_t bar_off(struct hwc *h, unsigned int slot, size_t i)
{
	return h->o.offset + slot * SLOT + i * 8;
}

/* --- Work requests, one at a time --- */

static uint64_t slot_iova(unsigned int slot)
{
	return IOVA_BASE + slot * SLOT;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* The next completion on @cq (WAIT_MS at most): 0 or ETIMEDOUT/EIO. */
static int wait_cq(struct ibv_cq *cq, struct ibv_wc *wc)
{
	long long deadline = now_ms() + WAIT_MS;
	int n;

	do {
		n = ibv_poll_cq(cq, 1, wc);
		if (n < 0)
			return p2pmr_set_error(EIO, "polling a CQ failed");
		if (n)
			return 0;
	} while (now_ms() < deadline);
	return p2pmr_set_error(ETIMEDOUT, "no completion in %d s", WAIT_MS / 1000);
}

/*
 * Post @wr on the requester and wait for its completion: its status, or
 * -errno when posting or waiting failed (p2pmr_last_error() says why).
 */
static int run_wr(struct hwc *h, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad;
	struct ibv_wc wc;
	int ret;

	ret = ibv_post_send(h->loop.qp[LOOP_REQUESTER], wr, &bad);
	if (ret)
		return -p2pmr_set_error(ret, "ibv_post_send failed");
	ret = wait_cq(h->loop.cq[LOOP_REQUESTER], &wc);
	return ret ? -ret : (int)wc.status;
}

static int run_rdma(struct hwc *h, enum ibv_wr_opcode op, void *local, uint32_t len,
		    uint32_t lkey, uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = { .addr = (uintptr_t)local, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = op,
		.wr.rdma = { .remote_addr = raddr, .rkey = rkey },
	};

	return run_wr(h, &wr);
}

static int run_atomic(struct hwc *h, enum ibv_wr_opcode op, uint64_t raddr, uint32_t rkey,
		      uint64_t compare_add, uint64_t swap, uint64_t *orig)
{
	struct ibv_sge sge = { .addr = (uintptr_t)h->host, .length = 8, .lkey = h->host_mr->lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = op,
		.wr.atomic = { .remote_addr = raddr, .rkey = rkey, .compare_add = compare_add,
			       .swap = swap },
	};
	int s = run_wr(h, &wr);

	*orig = h->host[0];
	return s;
}

/* A SEND of [@src, +@len) (@slkey) received into [@dst, +@len) (@dlkey). */
static int run_send(struct hwc *h, uint64_t src, uint32_t slkey, uint64_t dst, uint32_t dlkey,
		    uint32_t len)
{
	struct ibv_sge rsge = { .addr = dst, .length = len, .lkey = dlkey };
	struct ibv_recv_wr rwr = { .sg_list = &rsge, .num_sge = 1 }, *rbad;
	struct ibv_sge sge = { .addr = src, .length = len, .lkey = slkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND };
	struct ibv_wc wc;
	int s, ret;

	ret = ibv_post_recv(h->loop.qp[LOOP_RESPONDER], &rwr, &rbad);
	if (ret)
		return -p2pmr_set_error(ret, "ibv_post_recv failed");
	s = run_wr(h, &wr);
	if (s)
		return s;
	ret = wait_cq(h->loop.cq[LOOP_RESPONDER], &wc);
	return ret ? -ret : (int)wc.status;
}

/* A status for messages: the completion's, or the error of posting/waiting. */
static const char *status_str(int s)
{
	static __thread char buf[DETAIL];

	if (s >= 0)
		return ibv_wc_status_str(s);
	snprintf(buf, sizeof(buf), "%s", p2pmr_last_error());
	return buf;
}

/* --- Set-up --- */

/* The driver of the RDMA device, and so how it imports dma-bufs. */
static void detect_import_mode(struct hwc *h)
{
	struct ibv_device_attr_ex attr = {};
	char path[PATH_MAX], link[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(h->driver, sizeof(h->driver), "?");
	snprintf(path, sizeof(path), "%s/device/driver", h->loop.ctx->device->ibdev_path);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		base = strrchr(link, '/');
		snprintf(h->driver, sizeof(h->driver), "%.63s", base ? base + 1 : link);
	}
	h->mode = IMPORT_UNKNOWN;
	if (ibv_query_device_ex(h->loop.ctx, NULL, &attr))
		return;
	if (!strcmp(h->driver, "mlx5_core")) {
		h->mode = attr.odp_caps.general_caps & IBV_ODP_SUPPORT ? IMPORT_DYNAMIC :
			  IMPORT_PINNED;
	} else if (attr.orig_attr.vendor_id == 0xffffff) {
		/* rxe's vendor id (RXE_VENDOR_ID); it sits on a netdev ("parent") */
		snprintf(path, sizeof(path), "%s/parent", h->loop.ctx->device->ibdev_path);
		if (!access(path, R_OK)) {
			h->mode = IMPORT_CPU;
			snprintf(h->driver, sizeof(h->driver), "rdma_rxe");
		}
	}
}

static int setup(struct hwc *h)
{
	uint64_t page = sysconf(_SC_PAGESIZE);
	char size[32];
	void *map;

	if (p2pmr_device_open(h->o.pci, P2PMR_VFIO_API_AUTO, &h->dev) ||
	    p2pmr_device_bar_info(h->dev, h->o.bar, &h->info)) {
		fprintf(stderr, "p2pmr hw-check: %s\n", p2pmr_last_error());
		return 1;
	}
	if (!h->info.size || !h->info.is_memory) {
		fprintf(stderr, "p2pmr hw-check: BAR %d of %s is not a memory BAR\n", h->o.bar,
			h->o.pci);
		return 2;
	}
	if (h->o.offset % page || h->o.offset >= h->info.size ||
	    h->info.size - h->o.offset < HWC_WINDOW) {
		fprintf(stderr,
			"p2pmr hw-check: the window of 1 MiB at offset 0x%" PRIx64 " must be page aligned and inside BAR %d of %s (%s bytes)\n",
			h->o.offset, h->o.bar, h->o.pci,
			format_size(h->info.size, size, sizeof(size)));
		return 2;
	}
	if (!h->info.can_mmap) {
		fprintf(stderr, "p2pmr hw-check: VFIO does not let BAR %d of %s be mmapped: hw-check verifies bytes through the mapping\n",
			h->o.bar, h->o.pci);
		return 1;
	}
	if (p2pmr_bar_mmap(h->dev, h->o.bar, &map, &h->map_len)) {
		fprintf(stderr, "p2pmr hw-check: %s\n", p2pmr_last_error());
		return 1;
	}
	h->map = map;
	printf("device: %s BAR %d (%s), window [0x%" PRIx64 ", 0x%" PRIx64 "), VFIO %s API\n",
	       h->o.pci, h->o.bar, format_size(h->info.size, size, sizeof(size)), h->o.offset,
	       h->o.offset + HWC_WINDOW, p2pmr_vfio_api_name(p2pmr_device_api(h->dev)));

	if (loop_open(&h->loop, &h->o.rdma, DEPTH)) {
		fprintf(stderr, "p2pmr hw-check: %s\n", p2pmr_last_error());
		return 1;
	}
	h->loop_ok = true;
	detect_import_mode(h);
	printf("RDMA: %s port %u GID index %d, driver %s, dma-buf import: %s\n",
	       h->loop.dev_name, h->loop.port, h->loop.gid_index, h->driver,
	       import_names[h->mode]);
	h->host = aligned_alloc(page, HOST_LEN);
	if (!h->host)
		return 1;
	memset(h->host, 0, HOST_LEN);
	h->host_mr = ibv_reg_mr(h->loop.pd, h->host, HOST_LEN, ACCESS_ALL);
	if (!h->host_mr) {
		fprintf(stderr, "p2pmr hw-check: ibv_reg_mr of host memory: %s\n",
			strerror(errno));
		return 1;
	}
	return 0;
}

/* --- The checks --- */

static enum verdict check_export(struct hwc *h)
{
	struct p2pmr_range r = { h->o.offset, HWC_WINDOW };
	uint64_t size = 0;

	if (!p2pmr_dmabuf_supported(h->dev))
		return verdict(h, "export", FAIL, "the kernel cannot export BARs of %s as dma-bufs (VFIO_DEVICE_FEATURE_DMA_BUF: is the p2pmr kernel running?)",
			       h->o.pci);
	if (p2pmr_dmabuf_export(h->dev, h->o.bar, &r, 1, &h->fd))
		return verdict(h, "export", FAIL, "%s", p2pmr_last_error());
	if (p2pmr_dmabuf_size(h->fd, &size) || size != HWC_WINDOW)
		return verdict(h, "export", FAIL, "the dma-buf has %" PRIu64 " bytes, expected %" PRIu64,
			       size, HWC_WINDOW);
	return verdict(h, "export", PASS, "BAR %d [0x%" PRIx64 ", 0x%" PRIx64 ") as dma-buf fd %d of %" PRIu64 " bytes",
		       h->o.bar, r.offset, r.offset + r.length, h->fd, size);
}

/* RDMA WRITE a pattern into the MR's slot and find it in the BAR. */
static int write_and_verify(struct hwc *h, unsigned int slot, uint64_t iova, uint32_t rkey,
			    uint64_t seed, char *why, size_t len)
{
	ssize_t at;
	int s;

	pattern_fill(h->host, SLOT, seed);
	s = run_rdma(h, IBV_WR_RDMA_WRITE, h->host, SLOT, h->host_mr->lkey, iova, rkey);
	if (s) {
		snprintf(why, len, "RDMA WRITE of %zu KiB: %.400s", SLOT / KIB, status_str(s));
		return -1;
	}
	at = bar_differs(h, slot, h->host, SLOT);
	if (at >= 0) {
		snprintf(why, len, "after RDMA WRITE, BAR word 0x%" PRIx64 " is 0x%" PRIx64 ", expected 0x%" PRIx64 " (VFIO mmap)",
			 bar_off(h, slot, at), *bar_word(h, slot, at), h->host[at]);
		return -1;
	}
	return 0;
}

static struct p2pmr_mr *reg_slots(struct hwc *h, unsigned int slot, unsigned int n)
{
	return p2pmr_reg_dmabuf_mr(h->loop.pd, slot * SLOT, n * SLOT, slot_iova(slot), h->fd,
				   ACCESS_ALL);
}

static enum verdict check_mr_provider(struct hwc *h)
{
	char why[DETAIL];
	struct p2pmr_mr *mr;
	int bad;

	/* The provider is what this check is about: never skip it. */
	unsetenv("P2PMR_FORCE_UVERBS");
	mr = reg_slots(h, SLOT_PROVIDER, 1);
	if (!mr)
		return verdict(h, "mr-provider", FAIL, "p2pmr_reg_dmabuf_mr: %s", p2pmr_last_error());
	if (p2pmr_mr_is_fallback(mr)) {
		p2pmr_dereg_mr(mr);
		return verdict(h, "mr-provider", SKIP,
			       "the rdma-core provider of %s has no ibv_reg_dmabuf_mr (EOPNOTSUPP): libp2pmr used the kernel method; for rxe, rdma-core with providers/0001; mlx5 has it since rdma-core 34",
			       h->loop.dev_name);
	}
	bad = write_and_verify(h, SLOT_PROVIDER, mr->iova, mr->rkey, 0x9001, why, sizeof(why));
	if (p2pmr_dereg_mr(mr) && !bad)
		bad = snprintf(why, sizeof(why), "deregistration: %.400s", p2pmr_last_error());
	if (bad)
		return verdict(h, "mr-provider", FAIL, "ibv_reg_dmabuf_mr MR: %s", why);
	return verdict(h, "mr-provider", PASS, "ibv_reg_dmabuf_mr (the provider): 64 KiB MR, RDMA WRITE landed in the BAR");
}

static enum verdict check_mr_kernel(struct hwc *h)
{
	struct p2pmr_mr_keys keys;
	char why[DETAIL];
	int bad;

	if (p2pmr_uverbs_reg_dmabuf_mr(h->loop.ctx->cmd_fd, h->loop.pd->handle,
				       SLOT_KERNEL * SLOT, SLOT, slot_iova(SLOT_KERNEL), h->fd,
				       ACCESS_ALL, &keys))
		return verdict(h, "mr-kernel", FAIL, "UVERBS_METHOD_REG_DMABUF_MR: %s",
			       p2pmr_last_error());
	bad = write_and_verify(h, SLOT_KERNEL, slot_iova(SLOT_KERNEL), keys.rkey, 0x9002, why,
			       sizeof(why));
	if (p2pmr_uverbs_dereg_mr(h->loop.ctx->cmd_fd, keys.handle) && !bad)
		bad = snprintf(why, sizeof(why), "deregistration: %.400s", p2pmr_last_error());
	if (bad)
		return verdict(h, "mr-kernel", FAIL, "kernel method MR: %s", why);
	return verdict(h, "mr-kernel", PASS, "UVERBS_METHOD_REG_DMABUF_MR (the kernel method): 64 KiB MR, RDMA WRITE landed in the BAR");
}

/* The data checks' MR over the whole window, as an application gets it. */
static int data_mr(struct hwc *h)
{
	if (h->data_mr)
		return 0;
	h->data_mr = p2pmr_reg_dmabuf_mr(h->loop.pd, 0, HWC_WINDOW, IOVA_BASE, h->fd, ACCESS_ALL);
	return h->data_mr ? 0 : -1;
}

static enum verdict check_write(struct hwc *h)
{
	size_t len = 4 * SLOT, off;
	ssize_t at;
	int s;

	if (data_mr(h))
		return verdict(h, "write", FAIL, "registering the window: %s", p2pmr_last_error());
	pattern_fill(h->host, len, 0x17e);
	for (off = 0; off < len; off += MSG) {
		s = run_rdma(h, IBV_WR_RDMA_WRITE, (uint8_t *)h->host + off, MSG,
			     h->host_mr->lkey, slot_iova(SLOT_WRITE) + off, h->data_mr->rkey);
		if (s)
			return verdict(h, "write", FAIL, "RDMA WRITE at BAR offset 0x%" PRIx64 ": %s",
				       bar_off(h, SLOT_WRITE, off / 8), status_str(s));
	}
	at = bar_differs(h, SLOT_WRITE, h->host, len);
	if (at >= 0)
		return verdict(h, "write", FAIL, "BAR word 0x%" PRIx64 " is 0x%" PRIx64 ", expected 0x%" PRIx64 " (VFIO mmap)",
			       bar_off(h, SLOT_WRITE, at), *bar_word(h, SLOT_WRITE, at), h->host[at]);
	return verdict(h, "write", PASS, "256 KiB by RDMA WRITE (64 KiB messages) are in the BAR (VFIO mmap)");
}

static enum verdict check_read(struct hwc *h)
{
	size_t len = 2 * SLOT;
	uint64_t *want = malloc(len);
	size_t i;
	int s;

	if (!want || data_mr(h)) {
		free(want);
		return verdict(h, "read", FAIL, "registering the window: %s", p2pmr_last_error());
	}
	pattern_fill(want, len, 0x2ead);
	bar_put(h, SLOT_READ, want, len);
	memset(h->host, 0, len);
	s = run_rdma(h, IBV_WR_RDMA_READ, h->host, len, h->host_mr->lkey, slot_iova(SLOT_READ),
		     h->data_mr->rkey);
	for (i = 0; !s && i < len / 8; i++)
		if (h->host[i] != want[i])
			break;
	free(want);
	if (s)
		return verdict(h, "read", FAIL, "RDMA READ of 128 KiB: %s", status_str(s));
	if (i < len / 8)
		return verdict(h, "read", FAIL, "RDMA READ returned 0x%" PRIx64 " for BAR word 0x%" PRIx64 ", which holds 0x%" PRIx64,
			       h->host[i], bar_off(h, SLOT_READ, i), *bar_word(h, SLOT_READ, i));
	return verdict(h, "read", PASS, "128 KiB put in the BAR through VFIO mmap came back by RDMA READ");
}

static enum verdict check_send(struct hwc *h)
{
	uint64_t *want = malloc(SEND_LEN);
	ssize_t at;
	size_t i;
	int s;

	if (!want || data_mr(h)) {
		free(want);
		return verdict(h, "send", FAIL, "registering the window: %s", p2pmr_last_error());
	}
	/* Into the BAR: host memory sent, received into the BAR MR. */
	pattern_fill(h->host, SEND_LEN, 0x5e9d);
	s = run_send(h, (uintptr_t)h->host, h->host_mr->lkey, slot_iova(SLOT_SEND_IN),
		     h->data_mr->lkey, SEND_LEN);
	if (s) {
		free(want);
		return verdict(h, "send", FAIL, "SEND received into the BAR MR: %s", status_str(s));
	}
	at = bar_differs(h, SLOT_SEND_IN, h->host, SEND_LEN);
	if (at >= 0) {
		free(want);
		return verdict(h, "send", FAIL, "received into the BAR: word 0x%" PRIx64 " is 0x%" PRIx64 ", expected 0x%" PRIx64,
			       bar_off(h, SLOT_SEND_IN, at), *bar_word(h, SLOT_SEND_IN, at),
			       h->host[at]);
	}
	/* Out of the BAR: gathered from the BAR MR, received into host memory. */
	pattern_fill(want, SEND_LEN, 0xf00d);
	bar_put(h, SLOT_SEND_OUT, want, SEND_LEN);
	memset(h->host, 0, 2 * SEND_LEN);
	s = run_send(h, slot_iova(SLOT_SEND_OUT), h->data_mr->lkey,
		     (uintptr_t)h->host + SEND_LEN, h->host_mr->lkey, SEND_LEN);
	for (i = 0; !s && i < SEND_LEN / 8; i++)
		if (h->host[SEND_LEN / 8 + i] != want[i])
			break;
	free(want);
	if (s)
		return verdict(h, "send", FAIL, "SEND gathered from the BAR MR: %s", status_str(s));
	if (i < SEND_LEN / 8)
		return verdict(h, "send", FAIL, "SEND gathered from the BAR: received word %zu is 0x%" PRIx64 ", the BAR holds 0x%" PRIx64,
			       i, h->host[SEND_LEN / 8 + i], *bar_word(h, SLOT_SEND_OUT, i));
	return verdict(h, "send", PASS, "16 KiB SENT into a BAR MR receive and 16 KiB SENT from a BAR MR arrived intact");
}

static enum verdict check_atomics(struct hwc *h)
{
	uint64_t v = 0x1000, orig = 0, iova = slot_iova(SLOT_ATOMIC) + 8, final;
	int i, s;

	if (data_mr(h))
		return verdict(h, "atomics", FAIL, "registering the window: %s", p2pmr_last_error());
	*bar_word(h, SLOT_ATOMIC, 1) = v;
	for (i = 0; i < 100; i++) {
		s = run_atomic(h, IBV_WR_ATOMIC_FETCH_AND_ADD, iova, h->data_mr->rkey, 3, 0, &orig);
		if (s)
			return verdict(h, "atomics", FAIL, "fetch-and-add %d: %s", i, status_str(s));
		if (orig != v + 3 * i)
			return verdict(h, "atomics", FAIL, "fetch-and-add %d returned 0x%" PRIx64 ", expected 0x%" PRIx64,
				       i, orig, v + 3 * i);
	}
	v += 300;
	s = run_atomic(h, IBV_WR_ATOMIC_CMP_AND_SWP, iova, h->data_mr->rkey, v + 1, 0xabc, &orig);
	if (s || orig != v)
		return verdict(h, "atomics", FAIL, "failing compare-and-swap: %s, returned 0x%" PRIx64 ", expected 0x%" PRIx64,
			       status_str(s), orig, v);
	s = run_atomic(h, IBV_WR_ATOMIC_CMP_AND_SWP, iova, h->data_mr->rkey, v, 0xabc, &orig);
	final = *bar_word(h, SLOT_ATOMIC, 1);
	if (s || orig != v || final != 0xabc)
		return verdict(h, "atomics", FAIL, "compare-and-swap: %s, returned 0x%" PRIx64 ", the BAR holds 0x%" PRIx64 " (expected 0x%" PRIx64 ", 0xabc)",
			       status_str(s), orig, final, v);
	return verdict(h, "atomics", PASS, "100 fetch-and-adds and 2 compare-and-swaps on a BAR word are exact (VFIO mmap)");
}

/* --- Revocation with traffic running --- */

/*
 * RDMA WRITEs of SLOT bytes, one at a time, each stamped with its number
 * (every word of the message), into the MR of a revoke check, until told
 * to stop. A failed one resets the QPs and traffic goes on.
 */
struct traffic {
	struct hwc *h;
	uint32_t rkey;
	uint64_t iova;
	volatile bool stop;
	uint64_t posted;		/* stamp of the last work request posted */
	uint64_t revoked_at;		/* the stamp posted when the revoke returned, or 0 */
	unsigned int ok, errors, after_errors, after_ok;
	int first_error;		/* status of the first failure */
	int first_after;		/* status of the first failure after the revoke */
	int bad;			/* a status the mode does not allow, or 0 */
	uint64_t bad_stamp;
	int err;			/* posting, waiting or reconnecting failed: errno */
	char why[DETAIL];
};

static void *traffic_thread(void *arg)
{
	struct traffic *t = arg;
	struct hwc *h = t->h;
	uint64_t stamp, at;
	size_t i;
	int s;

	while (!t->stop) {
		stamp = __atomic_add_fetch(&t->posted, 1, __ATOMIC_SEQ_CST);
		for (i = 0; i < SLOT / 8; i++)
			h->host[i] = stamp;
		s = run_rdma(h, IBV_WR_RDMA_WRITE, h->host, SLOT, h->host_mr->lkey, t->iova,
			     t->rkey);
		at = __atomic_load_n(&t->revoked_at, __ATOMIC_SEQ_CST);
		if (s < 0) {
			t->err = -s;
			snprintf(t->why, sizeof(t->why), "%s", p2pmr_last_error());
			break;
		}
		if (!s) {
			t->ok++;
			if (at && stamp > at)
				t->after_ok++;
			continue;
		}
		if (!t->errors++)
			t->first_error = s;
		if (at && stamp > at && !t->after_errors++)
			t->first_after = s;
		if (h->mode == IMPORT_CPU && s != IBV_WC_REM_ACCESS_ERR && !t->bad) {
			t->bad = s;
			t->bad_stamp = stamp;
		}
		if (loop_reconnect(&h->loop)) {
			t->err = EIO;
			snprintf(t->why, sizeof(t->why), "%s", p2pmr_last_error());
			break;
		}
	}
	return NULL;
}

/* Wait (at most @ms) until @cond holds for the traffic. */
static bool wait_for(struct traffic *t, bool (*cond)(struct traffic *t), long long ms)
{
	long long end = now_ms() + ms;

	while (!cond(t) && !t->err && now_ms() < end)
		usleep(1000);
	return cond(t);
}

/* Traffic runs: a few WRITEs went through before anything is revoked. */
#define OK_BEFORE	3
#define OK_WAIT_MS	60000

static bool some_ok(struct traffic *t)
{
	return t->ok >= OK_BEFORE;
}

static bool some_after(struct traffic *t)
{
	return t->after_errors + t->after_ok >= 5;
}

/*
 * Zero @slot, register an MR over it and start the traffic into it; return
 * once some WRITEs went through (or the time is up). 0, or -1 after the
 * FAIL verdict of check @name.
 */
static int traffic_start(struct hwc *h, const char *name, unsigned int slot, struct traffic *t,
			 struct p2pmr_mr **mrp, pthread_t *thread)
{
	size_t i;

	for (i = 0; i < SLOT / 8; i++)
		*bar_word(h, slot, i) = 0;
	*mrp = reg_slots(h, slot, 1);
	if (!*mrp) {
		verdict(h, name, FAIL, "registering: %s", p2pmr_last_error());
		return -1;
	}
	t->iova = (*mrp)->iova;
	t->rkey = (*mrp)->rkey;
	if (pthread_create(thread, NULL, traffic_thread, t)) {
		p2pmr_dereg_mr(*mrp);
		verdict(h, name, FAIL, "pthread_create failed");
		return -1;
	}
	/* Long, for loaded emulators: a stall is what the checks then report. */
	wait_for(t, some_ok, OK_WAIT_MS);
	return 0;
}

static int pci_command(struct hwc *h, bool memory_on)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	int fd = p2pmr_device_fd(h->dev);
	uint16_t cmd;

	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &ri) ||
	    pread(fd, &cmd, 2, ri.offset + PCI_COMMAND) != 2)
		return p2pmr_set_error(errno, "reading PCI_COMMAND through VFIO failed");
	cmd = memory_on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	if (pwrite(fd, &cmd, 2, ri.offset + PCI_COMMAND) != 2)
		return p2pmr_set_error(errno, "writing PCI_COMMAND through VFIO failed");
	return 0;
}

/* A word of the slot that holds a stamp of a work request posted after the revoke. */
static ssize_t stamp_after(struct hwc *h, unsigned int slot, const struct traffic *t)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < SLOT / 8; i++) {
		w = *bar_word(h, slot, i);
		if (w > t->revoked_at && w <= t->posted)
			return i;
	}
	return -1;
}

/*
 * After the restore: the same MR works again (CPU access, dynamic), or it
 * stays fenced and a new registration works (pinned). 0, or -1 with @why.
 */
static int after_restore(struct hwc *h, unsigned int slot, struct p2pmr_mr **mrp, char *out,
			 size_t outlen, char *why, size_t whylen)
{
	bool same_ok;
	int s;

	if (loop_reconnect(&h->loop)) {
		snprintf(why, whylen, "%s", p2pmr_last_error());
		return -1;
	}
	same_ok = !write_and_verify(h, slot, (*mrp)->iova, (*mrp)->rkey, 0xa11 + slot, why, whylen);
	if (same_ok) {
		if (h->mode == IMPORT_PINNED) {
			snprintf(why, whylen, "the pinned MR took a WRITE after the restore: it should stay fenced until registered again");
			return -1;
		}
		snprintf(out, outlen, "the same MR works after the restore");
		return 0;
	}
	if (h->mode == IMPORT_CPU || h->mode == IMPORT_DYNAMIC) {
		char tmp[DETAIL];

		snprintf(tmp, sizeof(tmp), "%s", why);
		snprintf(why, whylen, "after the restore the same MR should work again: %.400s", tmp);
		return -1;
	}
	/* Fenced, as documented for pinned imports: register again. */
	p2pmr_dereg_mr(*mrp);
	*mrp = reg_slots(h, slot, 1);
	if (!*mrp) {
		snprintf(why, whylen, "registering again after the restore: %s", p2pmr_last_error());
		return -1;
	}
	s = loop_reconnect(&h->loop);
	if (s || write_and_verify(h, slot, (*mrp)->iova, (*mrp)->rkey, 0xb11 + slot, why, whylen)) {
		if (s)
			snprintf(why, whylen, "%s", p2pmr_last_error());
		return -1;
	}
	snprintf(out, outlen, "the MR stayed fenced after the restore; registered again, it works");
	return 0;
}

static enum verdict traffic_verdict(struct hwc *h, const char *name, struct traffic *t)
{
	if (t->err)
		return verdict(h, name, FAIL, "traffic stopped after %u work requests: %s",
			       t->ok + t->errors, t->why);
	if (t->bad)
		return verdict(h, name, FAIL, "work request %" PRIu64 " completed with %s; %s completes with %s or success (docs/rdma-importers.md)",
			       t->bad_stamp, ibv_wc_status_str(t->bad), h->driver,
			       ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
	return PASS;
}

static enum verdict check_revoke_decode(struct hwc *h)
{
	char after[DETAIL], why[DETAIL];
	struct traffic t = { .h = h };
	struct p2pmr_mr *mr;
	pthread_t thread;
	enum verdict v;
	ssize_t at;
	int ret;

	if (traffic_start(h, "revoke-decode", SLOT_REVOKE_DECODE, &t, &mr, &thread))
		return FAIL;
	ret = pci_command(h, false);
	__atomic_store_n(&t.revoked_at, __atomic_load_n(&t.posted, __ATOMIC_SEQ_CST),
			 __ATOMIC_SEQ_CST);
	if (!ret)
		wait_for(&t, some_after, h->o.seconds * 1000LL);
	t.stop = true;
	pthread_join(thread, NULL);
	if (pci_command(h, true) || ret) {
		p2pmr_dereg_mr(mr);
		return verdict(h, "revoke-decode", FAIL, "%s", p2pmr_last_error());
	}
	printf("revoke-decode: %u WRITEs succeeded, %u failed; decode off after stamp %" PRIu64 ", then %u failed, %u succeeded\n",
	       t.ok, t.errors, t.revoked_at, t.after_errors, t.after_ok);
	v = traffic_verdict(h, "revoke-decode", &t);
	if (v == FAIL)
		goto out;
	if (t.ok < OK_BEFORE) {
		v = verdict(h, "revoke-decode", FAIL, "only %u WRITEs succeeded before the revoke, in %d s",
			t.ok, OK_WAIT_MS / 1000);
		goto out;
	}
	if (t.after_ok) {
		v = verdict(h, "revoke-decode", FAIL, "%u WRITEs posted after memory decode was off completed successfully",
			t.after_ok);
		goto out;
	}
	if (!t.after_errors) {
		v = verdict(h, "revoke-decode", FAIL, "no WRITE completed in %u s after memory decode was off",
			h->o.seconds);
		goto out;
	}
	at = stamp_after(h, SLOT_REVOKE_DECODE, &t);
	if (at >= 0) {
		v = verdict(h, "revoke-decode", FAIL, "BAR word 0x%" PRIx64 " holds stamp %" PRIu64 ", of a WRITE posted after the revoke (last before: %" PRIu64 ")",
			bar_off(h, SLOT_REVOKE_DECODE, at), *bar_word(h, SLOT_REVOKE_DECODE, at),
			t.revoked_at);
		goto out;
	}
	if (after_restore(h, SLOT_REVOKE_DECODE, &mr, after, sizeof(after), why, sizeof(why))) {
		v = verdict(h, "revoke-decode", FAIL, "%s", why);
		goto out;
	}
	v = verdict(h, "revoke-decode", PASS, "%u WRITEs after decode off failed (first: %s), no byte of them in the BAR; %s",
		t.after_errors, ibv_wc_status_str(t.first_after), after);
out:
	if (mr)
		p2pmr_dereg_mr(mr);
	return v;
}

static enum verdict check_revoke_reset(struct hwc *h)
{
	char after[DETAIL], why[DETAIL];
	struct traffic t = { .h = h };
	unsigned int resets = 0;
	enum verdict v;
	struct p2pmr_mr *mr;
	pthread_t thread;
	ssize_t at;
	int ret = 0;

	if (traffic_start(h, "revoke-reset", SLOT_REVOKE_RESET, &t, &mr, &thread))
		return FAIL;
	for (resets = 0; resets < 3 && !ret; resets++) {
		ret = ioctl(p2pmr_device_fd(h->dev), VFIO_DEVICE_RESET) ? errno : 0;
		if (!resets)
			__atomic_store_n(&t.revoked_at, __atomic_load_n(&t.posted, __ATOMIC_SEQ_CST),
					 __ATOMIC_SEQ_CST);
		usleep(100 * 1000);
	}
	if (!ret)
		wait_for(&t, some_after, h->o.seconds * 1000LL);
	t.stop = true;
	pthread_join(thread, NULL);
	if (ret) {
		p2pmr_dereg_mr(mr);
		return verdict(h, "revoke-reset", FAIL, "VFIO_DEVICE_RESET of %s: %s (does the function support a reset? see the device's reset_method in sysfs)",
			       h->o.pci, strerror(ret));
	}
	printf("revoke-reset: %u WRITEs succeeded, %u failed; %u resets from stamp %" PRIu64 ", then %u failed, %u succeeded\n",
	       t.ok, t.errors, resets, t.revoked_at, t.after_errors, t.after_ok);
	v = traffic_verdict(h, "revoke-reset", &t);
	if (v == FAIL)
		goto out;
	if (t.ok < OK_BEFORE) {
		v = verdict(h, "revoke-reset", FAIL, "only %u WRITEs succeeded before the resets, in %d s",
			    t.ok, OK_WAIT_MS / 1000);
		goto out;
	}
	/* A pinned import stays fenced from the first reset on. */
	if (h->mode == IMPORT_PINNED) {
		at = stamp_after(h, SLOT_REVOKE_RESET, &t);
		if (t.after_ok || at >= 0) {
			v = verdict(h, "revoke-reset", FAIL, "the pinned MR took %u WRITEs after the reset revoked it%s",
				t.after_ok, at >= 0 ? ", and their bytes are in the BAR" : "");
			goto out;
		}
	}
	if (after_restore(h, SLOT_REVOKE_RESET, &mr, after, sizeof(after), why, sizeof(why))) {
		v = verdict(h, "revoke-reset", FAIL, "%s", why);
		goto out;
	}
	v = verdict(h, "revoke-reset", PASS, "%u VFIO_DEVICE_RESETs under traffic: %u WRITEs succeeded, %u failed%s%s, none hung; %s",
		resets, t.ok, t.errors, t.errors ? " with " : "",
		t.errors ? ibv_wc_status_str(t.first_error) : "",
		after);
out:
	if (mr)
		p2pmr_dereg_mr(mr);
	return v;
}

/* --- The whole run --- */

static const struct {
	const char *name;
	enum verdict (*run)(struct hwc *h);
} checks[] = {
	{ "export", check_export },
	{ "mr-provider", check_mr_provider },
	{ "mr-kernel", check_mr_kernel },
	{ "write", check_write },
	{ "read", check_read },
	{ "send", check_send },
	{ "atomics", check_atomics },
	{ "revoke-decode", check_revoke_decode },
	{ "revoke-reset", check_revoke_reset },
};

static void teardown(struct hwc *h)
{
	if (h->data_mr && p2pmr_dereg_mr(h->data_mr))
		fprintf(stderr, "p2pmr hw-check: %s\n", p2pmr_last_error());
	if (h->host_mr)
		ibv_dereg_mr(h->host_mr);
	if (h->loop_ok)
		loop_close(&h->loop);
	if (h->fd >= 0)
		close(h->fd);
	if (h->map)
		p2pmr_bar_munmap((void *)h->map, h->map_len);
	if (h->dev)
		p2pmr_device_close(h->dev);
	free(h->host);
}

int hw_check_main(int argc, char **argv)
{
	struct hwc h = { .fd = -1 };
	unsigned int i;
	int ret;

	ret = hwc_parse(&h.o, argc, argv);
	if (ret)
		return ret == 1 ? 0 : ret;
	ret = setup(&h);
	if (ret) {
		teardown(&h);
		return ret;
	}
	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (i && h.fd < 0) {
			verdict(&h, checks[i].name, SKIP, "needs the dma-buf, and the export failed");
			continue;
		}
		checks[i].run(&h);
	}
	teardown(&h);
	return h.failed ? 1 : 0;
}
