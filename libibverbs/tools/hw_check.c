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
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <infiniband/verbs.h>

#include "hw_check.h"
#include "p2pmr.h"
#include "rdma_loop.h"
#include "rdma_opts.h"
#include "sizes.h"

#include "hw_check_int.h"

static const char *const import_names[] = {
	[IMPORT_CPU] = "CPU access (rxe)",
	[IMPORT_DYNAMIC] = "dynamic, ODP (mlx5)",
	[IMPORT_PINNED] = "pinned revocable, no ODP (mlx5)",
	[IMPORT_UNKNOWN] = "unknown driver",
};

static const char *const verdict_names[] = { "PASS", "FAIL", "SKIP" };

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

enum verdict verdict(struct hwc *h, const char *name, enum verdict v, const char *fmt, ...)
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
volatile uint64_t *bar_word(struct hwc *h, unsigned int slot, size_t i)
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
uint64_t bar_off(struct hwc *h, unsigned int slot, size_t i)
{
	return h->o.offset + slot * SLOT + i * 8;
}

/* --- Work requests, one at a time --- */

static uint64_t slot_iova(unsigned int slot)
{
	return IOVA_BASE + slot * SLOT;
}

long long now_ms(void)
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

int run_rdma(struct hwc *h, enum ibv_wr_opcode op, void *local, uint32_t len,
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
int write_and_verify(struct hwc *h, unsigned int slot, uint64_t iova, uint32_t rkey,
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

struct p2pmr_mr *reg_slots(struct hwc *h, unsigned int slot, unsigned int n)
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
