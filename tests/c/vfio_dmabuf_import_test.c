// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * vfio-dmabuf-import-test: a VFIO BAR dma-buf as an in-kernel importer sees
 * it, through the dma-buf test importer: DMA mappings per PCI topology, CPU
 * access through vmap, and revocation on every trigger.
 *
 *   vfio-dmabuf-import-test --list
 *   vfio-dmabuf-import-test CASE --device BDF --bar N [--file F]
 *                           [--peer BDF] [--far BDF] [--seconds S]
 *                           [--triggers decode,reset]
 *
 *   --device  the exporting device (bound to vfio-pci)
 *   --file    the host file backing the BAR (ivshmem), to check bytes
 *   --peer    a PCI device below the same switch as --device
 *   --far     a PCI device on the root bus (path through the host bridge)
 *   --seconds duration of the stress case
 *   --triggers what the stress case does to the device (default both)
 * Exit status 0 when the case holds.
 */
#define _GNU_SOURCE	/* gettid, pthread_timedjoin_np */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "cases.h"
#include "check.h"
#include "p2pmr.h"
#include "pattern.h"
#include "ranges.h"
#include "test_importer.h"
#include "unpriv.h"
#include "vfio_ctl.h"

#define MIB (1ULL << 20)
#define MAX_SEGS 64

struct ctx {
	const char *addr;
	const char *file;
	const char *peer;
	const char *far;
	struct p2pmr_device *dev;
	unsigned int bar;
	uint64_t page;
	uint64_t bar_bus_addr;
	int seconds;
	bool stress_toggle;	/* stress: toggle memory decode */
	bool stress_reset;	/* stress: reset the device */
};

static int export(struct ctx *c, const struct p2pmr_range *r, unsigned int n, int *fd)
{
	int ret = p2pmr_dmabuf_export(c->dev, c->bar, r, n, fd);

	if (ret)
		fprintf(stderr, "export: %s\n", p2pmr_last_error());
	return -ret;
}

/* A session attached to a fresh dma-buf of @r; closes the dma-buf fd. */
static int attach_new(struct ctx *c, const struct p2pmr_range *r, unsigned int n,
		      const char *as, int *ti)
{
	int fd, ret;

	ret = export(c, r, n, &fd);
	if (ret)
		return ret;
	*ti = ti_open();
	if (*ti < 0) {
		close(fd);
		return *ti;
	}
	ret = ti_attach(*ti, fd, as);
	close(fd);	/* the attachment holds its own reference */
	if (ret)
		close(*ti);
	return ret;
}

static int expect_status(int ti, const char *what, uint64_t min_notifies, uint32_t mapped,
			 uint32_t vmapped)
{
	struct dma_buf_ti_status st;

	CHECK_OK(ti_status(ti, &st));
	if (st.move_notify_count < min_notifies || st.mapped != mapped || st.vmapped != vmapped)
		return fail("%s: expected >= %" PRIu64 " move_notify, mapped %u, vmapped %u; got %llu, %u, %u",
			    what, min_notifies, mapped, vmapped,
			    (unsigned long long)st.move_notify_count, st.mapped, st.vmapped);
	printf("%s: %llu move_notify, mapped %u, vmapped %u\n", what,
	       (unsigned long long)st.move_notify_count, st.mapped, st.vmapped);
	return 0;
}

static int case_map_bus_addr(struct ctx *c)
{
	struct p2pmr_range r = { MIB, 4 * c->page };
	struct dma_buf_ti_seg segs[MAX_SEGS];
	uint32_t n;
	int ti;

	if (!c->peer)
		return fail("needs --peer");
	CHECK_OK(attach_new(c, &r, 1, c->peer, &ti));
	CHECK_OK(ti_map(ti, segs, MAX_SEGS, &n));
	close(ti);
	if (n != 1 || segs[0].len != r.length || !(segs[0].flags & DMA_BUF_TI_SEG_BUS_ADDR) ||
	    segs[0].dma_addr != c->bar_bus_addr + r.offset)
		return fail("expected 1 bus-address segment 0x%" PRIx64 "+0x%" PRIx64
			    "; got %u, first 0x%llx+0x%llx flags 0x%x", c->bar_bus_addr + r.offset,
			    r.length, n, (unsigned long long)segs[0].dma_addr,
			    (unsigned long long)segs[0].len, segs[0].flags);
	printf("peer below the switch gets the BAR's bus address 0x%llx\n",
	       (unsigned long long)segs[0].dma_addr);
	return 0;
}

static int case_map_ranges_in_order(struct ctx *c)
{
	struct p2pmr_range r[3] = {
		{ 8 * c->page, c->page }, { 32 * c->page, 2 * c->page }, { 0, c->page },
	};
	struct dma_buf_ti_seg segs[MAX_SEGS];
	unsigned int i;
	uint32_t n;
	int ti;

	if (!c->peer)
		return fail("needs --peer");
	CHECK_OK(attach_new(c, r, 3, c->peer, &ti));
	CHECK_OK(ti_map(ti, segs, MAX_SEGS, &n));
	close(ti);
	if (n != 3)
		return fail("expected 3 segments, got %u", n);
	for (i = 0; i < 3; i++)
		if (segs[i].dma_addr != c->bar_bus_addr + r[i].offset || segs[i].len != r[i].length)
			return fail("segment %u: expected 0x%" PRIx64 "+0x%" PRIx64 ", got 0x%llx+0x%llx",
				    i, c->bar_bus_addr + r[i].offset, r[i].length,
				    (unsigned long long)segs[i].dma_addr,
				    (unsigned long long)segs[i].len);
	printf("3 ranges map to 3 segments in the order given\n");
	return 0;
}

static int case_map_thru_host_bridge(struct ctx *c)
{
	struct p2pmr_range r = { 2 * MIB, 2 * c->page };
	struct dma_buf_ti_seg segs[MAX_SEGS];
	uint32_t n;
	int ti, ret;

	if (!c->far)
		return fail("needs --far");
	CHECK_OK(attach_new(c, &r, 1, c->far, &ti));
	ret = ti_map(ti, segs, MAX_SEGS, &n);
	close(ti);
	if (ret)
		return fail("map through the host bridge failed: %s (is the host bridge allowed for P2P? see dmesg)",
			    strerror(-ret));
	if (n != 1 || segs[0].len != r.length || (segs[0].flags & DMA_BUF_TI_SEG_BUS_ADDR))
		return fail("expected one IOMMU-mapped segment of 0x%" PRIx64 ", got %u segs, flags 0x%x",
			    r.length, n, segs[0].flags);
	printf("device across the host bridge gets a DMA-API address 0x%llx (BAR at 0x%" PRIx64 ")\n",
	       (unsigned long long)segs[0].dma_addr, c->bar_bus_addr + r.offset);
	return 0;
}

static int case_map_non_pci_refused(struct ctx *c)
{
	struct p2pmr_range r = { 0, c->page };
	struct dma_buf_ti_seg segs[MAX_SEGS];
	int ti;

	/* Attach succeeds, as in Linux v6.19; the mapping has no path. */
	CHECK_OK(attach_new(c, &r, 1, NULL, &ti));
	CHECK_ERR(ti_map(ti, segs, MAX_SEGS, NULL), EINVAL);
	close(ti);
	return 0;
}

/* Largest DMA segment the exporter hands out: sg_dma_len() is 32 bits. */
#define MAX_DMA_SEG ((uint64_t)UINT32_MAX & ~(uint64_t)4095)

/*
 * @r mapped by a peer below the switch: each range is split into segments
 * of at most MAX_DMA_SEG that follow each other on the bus, in order.
 */
static int check_large_mapping(struct ctx *c, const struct p2pmr_range *r, unsigned int n)
{
	struct dma_buf_ti_seg segs[MAX_SEGS];
	uint64_t total = 0, size;
	unsigned int i, k = 0;
	uint32_t nr;
	int ti, fd;

	CHECK_OK(export(c, r, n, &fd));
	size = lseek(fd, 0, SEEK_END);
	ti = ti_open();
	CHECK_OK(ti_attach(ti, fd, c->peer));
	close(fd);
	CHECK_OK(ti_map(ti, segs, MAX_SEGS, &nr));
	close(ti);
	for (i = 0; i < n; i++) {
		uint64_t addr = c->bar_bus_addr + r[i].offset, left = r[i].length;

		total += left;
		for (; left; k++) {
			uint64_t want = left < MAX_DMA_SEG ? left : MAX_DMA_SEG;

			if (k >= nr || segs[k].dma_addr != addr || segs[k].len != want ||
			    !(segs[k].flags & DMA_BUF_TI_SEG_BUS_ADDR))
				return fail("range %u: segment %u should be 0x%" PRIx64 "+0x%" PRIx64
					    ", got %s0x%llx+0x%llx", i, k, addr, want,
					    k >= nr ? "none, " : "",
					    k < nr ? (unsigned long long)segs[k].dma_addr : 0ULL,
					    k < nr ? (unsigned long long)segs[k].len : 0ULL);
			addr += want;
			left -= want;
		}
	}
	if (k != nr || size != total)
		return fail("%u segments (expected %u), dma-buf size 0x%" PRIx64 " (expected 0x%" PRIx64 ")",
			    nr, k, size, total);
	printf("%u range(s), %" PRIu64 " MiB: dma-buf of that size, %u segments below 4 GiB each\n",
	       n, (uint64_t)(total / MIB), nr);
	return 0;
}

/* Buffers of 8 GiB and more: the size is 64-bit, segments stay below 4 GiB. */
static int case_map_8gib(struct ctx *c)
{
	struct p2pmr_bar_info bi;
	struct p2pmr_range two[2];

	if (!c->peer)
		return fail("needs --peer");
	CHECK_LIB(p2pmr_device_bar_info(c->dev, c->bar, &bi));
	if (bi.size < (8ULL << 30))
		return fail("BAR%u is %" PRIu64 " MiB; this case needs one of 8 GiB or more",
			    c->bar, (uint64_t)(bi.size / MIB));
	CHECK_OK(check_large_mapping(c, &(struct p2pmr_range){ 0, bi.size }, 1));
	/* Two ranges, each longer than a segment, the first ending off 4 GiB. */
	two[0] = (struct p2pmr_range){ MIB, (5ULL << 30) - MIB };
	two[1] = (struct p2pmr_range){ (5ULL << 30) + 64 * c->page, bi.size - (5ULL << 30) - 64 * c->page };
	return check_large_mapping(c, two, 2);
}

/* Importers that could not cope with a revoke or with MMIO are refused. */
static int case_unfit_importers_refused(struct ctx *c)
{
	struct p2pmr_range r = { 0, c->page };
	int ti, fd;

	if (!c->peer)
		return fail("needs --peer");
	CHECK_OK(export(c, &r, 1, &fd));
	ti = ti_open();
	CHECK_ERR(ti_attach_flags(ti, fd, c->peer, DMA_BUF_TI_ATTACH_STATIC), EOPNOTSUPP);
	printf("a static importer (no move_notify): EOPNOTSUPP\n");
	CHECK_ERR(ti_attach_flags(ti, fd, c->peer, DMA_BUF_TI_ATTACH_NO_P2P), EOPNOTSUPP);
	printf("a dynamic importer without allow_peer2peer: EOPNOTSUPP\n");
	CHECK_ERR(ti_attach_flags(ti, fd, c->peer,
				  DMA_BUF_TI_ATTACH_PIN | DMA_BUF_TI_ATTACH_NOT_REVOCABLE),
		  EOPNOTSUPP);
	printf("an importer that cannot be revoked (no move_notify), pinned: EOPNOTSUPP\n");
	CHECK_ERR(ti_attach_flags(ti, fd, c->peer, DMA_BUF_TI_ATTACH_NOT_REVOCABLE), EINVAL);
	printf("the test importer without move_notify and without a pin: EINVAL\n");
	CHECK_OK(ti_attach(ti, fd, c->peer));
	close(ti);
	close(fd);
	return 0;
}

/* A pinned importer that is revocable: accepted, and revoked all the same. */
static int case_pinned_revocable(struct ctx *c)
{
	struct p2pmr_range r = { 6 * MIB, 2 * c->page };
	struct dma_buf_ti_seg segs[MAX_SEGS];
	int ti, fd;

	if (!c->peer)
		return fail("needs --peer");
	CHECK_OK(export(c, &r, 1, &fd));
	ti = ti_open();
	CHECK_OK(ti_attach_flags(ti, fd, c->peer, DMA_BUF_TI_ATTACH_PIN));
	CHECK_OK(ti_map(ti, segs, MAX_SEGS, NULL));
	CHECK_OK(vfio_set_memory_decode(c->dev, false));
	if (expect_status(ti, "pinned importer after revoke", 1, 0, 0))
		return 1;
	CHECK_ERR(ti_map(ti, segs, MAX_SEGS, NULL), ENODEV);
	CHECK_OK(vfio_set_memory_decode(c->dev, true));
	CHECK_OK(ti_map(ti, segs, MAX_SEGS, NULL));
	close(ti);
	close(fd);
	printf("a pinned, revocable importer was revoked and mapped again after restore\n");
	return 0;
}

/* Does the kernel log (/dev/kmsg) hold @text? */
static bool kmsg_has(const char *text)
{
	char line[1024];
	bool found = false;
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	while ((n = read(fd, line, sizeof(line) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		line[n] = 0;
		if (strstr(line, text))
			found = true;
	}
	close(fd);
	return found;
}

/*
 * An importer that does not unmap in move_notify: the revoke waits for it
 * for a bounded time, then goes on with a warning naming the dma-buf.
 */
static int case_revoke_wait_bounded(struct ctx *c)
{
	struct p2pmr_range r = { 5 * MIB, 2 * c->page };
	struct dma_buf_ti_seg segs[MAX_SEGS];
	struct timespec t0, t1;
	double secs;
	int ti, fd;

	if (!c->peer)
		return fail("needs --peer");
	CHECK_OK(export(c, &r, 1, &fd));
	ti = ti_open();
	CHECK_OK(ti_attach_flags(ti, fd, c->peer, DMA_BUF_TI_ATTACH_KEEP_MAPPED));
	CHECK_OK(ti_map(ti, segs, MAX_SEGS, NULL));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_OK(vfio_set_memory_decode(c->dev, false));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (expect_status(ti, "late importer after revoke", 1, 1, 0))
		return 1;
	CHECK_OK(ti_unmap(ti));
	CHECK_ERR(ti_map(ti, segs, MAX_SEGS, NULL), ENODEV);
	CHECK_OK(vfio_set_memory_decode(c->dev, true));
	CHECK_OK(ti_map(ti, segs, MAX_SEGS, NULL));
	close(ti);
	close(fd);
	if (secs < 0.9 || secs > 10)
		return fail("the revoke took %.2f s; expected the 1 s bound", secs);
	if (!kmsg_has("importers still hold 1 mappings"))
		return fail("no warning about the importer that kept its mapping in the kernel log");
	printf("revoke waited %.2f s for the late importer, warned, and went on\n", secs);
	return 0;
}

static int case_vmap_write_lands_in_bar(struct ctx *c)
{
	struct p2pmr_range r[2] = { { MIB, 2 * c->page }, { MIB + 2 * c->page, 2 * c->page } };
	size_t len = 4 * c->page;
	uint64_t *want = malloc(len), *got = malloc(len);
	int ti;

	if (!c->file)
		return fail("needs --file");
	CHECK_OK(attach_new(c, r, 2, NULL, &ti));
	CHECK_OK(ti_vmap(ti));
	pattern_fill(want, len, 0x5eed);
	CHECK_OK(ti_write(ti, 0, want, len));
	CHECK_OK(host_file_read(c->file, MIB, got, len));
	if (memcmp(want, got, len))
		return fail("the host file at BAR+1MiB does not hold what was written through vmap");
	memset(got, 0, len);
	CHECK_OK(ti_read(ti, 0, got, len));
	close(ti);
	if (memcmp(want, got, len))
		return fail("reading back through vmap gave other bytes");
	printf("%zu bytes written through vmap are in the host file, and read back\n", len);
	free(want);
	free(got);
	return 0;
}

static int case_vmap_read_sees_bar(struct ctx *c)
{
	struct p2pmr_range r = { 3 * MIB, 4 * c->page };
	size_t len = 4 * c->page;
	uint8_t *want = malloc(len), *got = malloc(len);
	int ti;

	if (!c->file)
		return fail("needs --file");
	CHECK_OK(attach_new(c, &r, 1, NULL, &ti));
	CHECK_OK(ti_vmap(ti));
	CHECK_OK(ti_read(ti, 0, got, len));
	close(ti);
	CHECK_OK(host_file_read(c->file, r.offset, want, len));
	if (memcmp(want, got, len))
		return fail("vmap read differs from the host file at BAR+3MiB");
	printf("vmap reads the bytes of the host file\n");
	free(want);
	free(got);
	return 0;
}

/* Bytes written through vmap are what the BAR shows through a VFIO mmap. */
static int case_vmap_matches_bar_mmap(struct ctx *c)
{
	struct p2pmr_range r = { MIB, 4 * c->page };
	size_t i, len = 4 * c->page, bar_len;
	uint64_t *want = malloc(len);
	volatile uint64_t *bar;
	void *map;
	int ti;

	CHECK_OK(attach_new(c, &r, 1, NULL, &ti));
	CHECK_OK(ti_vmap(ti));
	pattern_fill(want, len, 0xc3b);
	CHECK_OK(ti_write(ti, 0, want, len));
	close(ti);
	CHECK_LIB(p2pmr_bar_mmap(c->dev, c->bar, &map, &bar_len));
	bar = map;
	for (i = 0; i < len / 8; i++)
		if (bar[r.offset / 8 + i] != want[i])
			return fail("BAR word %zu at 0x%" PRIx64 ": vmap wrote 0x%016" PRIx64
				    ", the VFIO mmap shows 0x%016" PRIx64, i, r.offset + i * 8,
				    want[i], bar[r.offset / 8 + i]);
	p2pmr_bar_munmap(map, bar_len);
	free(want);
	printf("%zu bytes written through vmap read back through the VFIO BAR mmap\n", len);
	return 0;
}

/*
 * Write a pattern through vmap of @n ranges of one page each, then check the
 * BAR (host file) page by page and read everything back: a page given more
 * than once holds what was written to its last appearance.
 */
static int vmap_pages_check(struct ctx *c, const struct p2pmr_range *r, unsigned int n)
{
	size_t len = n * c->page;
	uint8_t *want = malloc(len), *got = malloc(len), *bar;
	uint64_t lo, hi;
	unsigned int i, j;
	int ti;

	if (!c->file)
		return fail("needs --file");
	CHECK_OK(attach_new(c, r, n, NULL, &ti));
	CHECK_OK(ti_vmap(ti));
	pattern_fill((uint64_t *)want, len, 0x5ca7 + n);
	CHECK_OK(ti_write(ti, 0, want, len));
	/* The BAR window the ranges lie in, read once. */
	ranges_window(r, n, &lo, &hi);
	bar = malloc(hi - lo);
	CHECK_OK(host_file_read(c->file, lo, bar, hi - lo));
	for (i = 0; i < n; i++) {
		j = ranges_last_alias(r, n, i);
		if (memcmp(bar + (r[i].offset - lo), want + j * c->page, c->page))
			return fail("BAR page 0x%" PRIx64 " (dma-buf page %u) does not hold what was written to dma-buf page %u",
				    r[i].offset, i, j);
		memcpy(want + i * c->page, want + j * c->page, c->page);
	}
	CHECK_OK(ti_read(ti, 0, got, len));
	close(ti);
	if (memcmp(want, got, len))
		return fail("reading back through vmap gave other bytes than the BAR holds");
	printf("%u ranges: %zu bytes written through vmap are in the BAR pages they map, and read back\n",
	       n, len);
	free(want);
	free(got);
	free(bar);
	return 0;
}

/* Scattered, overlapping and repeated pages map as one buffer. */
static int case_vmap_scattered(struct ctx *c)
{
	struct p2pmr_range r[RANGES_MIXED];

	ranges_mixed(r, 5 * MIB, c->page);
	return vmap_pages_check(c, r, RANGES_MIXED);
}

/* @n one-page ranges scattered (and repeated) over 64 pages at 6 MiB. */
static struct p2pmr_range *scattered_pages(struct ctx *c, unsigned int n)
{
	struct p2pmr_range *r = calloc(n, sizeof(*r));

	if (r)
		ranges_scattered_pages(r, n, 6 * MIB, c->page);
	return r;
}

static int case_vmap_4096_ranges(struct ctx *c)
{
	struct p2pmr_range *r = scattered_pages(c, 4096);
	int ret = vmap_pages_check(c, r, 4096);

	free(r);
	return ret;
}

/* 4096 ranges map as 4096 bus-address segments, each at its range. */
static int case_map_4096_ranges(struct ctx *c)
{
	unsigned int i, n = 4096;
	struct p2pmr_range *r = scattered_pages(c, n);
	struct dma_buf_ti_seg *segs = calloc(n, sizeof(*segs));
	uint32_t got;
	int ti;

	if (!c->peer)
		return fail("needs --peer");
	CHECK_OK(attach_new(c, r, n, c->peer, &ti));
	CHECK_OK(ti_map(ti, segs, n, &got));
	close(ti);
	if (got != n)
		return fail("expected %u segments, got %u", n, got);
	for (i = 0; i < n; i++)
		if (segs[i].dma_addr != c->bar_bus_addr + r[i].offset || segs[i].len != c->page ||
		    !(segs[i].flags & DMA_BUF_TI_SEG_BUS_ADDR))
			return fail("segment %u: expected bus address 0x%" PRIx64 "+0x%" PRIx64
				    ", got 0x%llx+0x%llx flags 0x%x", i, c->bar_bus_addr + r[i].offset,
				    c->page, (unsigned long long)segs[i].dma_addr,
				    (unsigned long long)segs[i].len, segs[i].flags);
	printf("%u ranges map as %u bus-address segments, each at its range\n", n, got);
	free(segs);
	free(r);
	return 0;
}

/*
 * Revoke with a DMA-mapped session and a vmapped session, check both lost
 * their mappings and nothing can be mapped or attached, then restore.
 * A NULL @restore means the trigger restores by itself before it returns
 * (a reset): then both notifications must have come and mapping works.
 */
static int revoke_and_restore(struct ctx *c, const char *what,
			      int (*revoke)(struct ctx *c), int (*restore)(struct ctx *c))
{
	struct p2pmr_range r = { 4 * MIB, 4 * c->page };
	struct dma_buf_ti_seg segs[MAX_SEGS];
	int mapped, vmapped, late, fd;

	CHECK_OK(export(c, &r, 1, &fd));
	mapped = ti_open();
	vmapped = ti_open();
	late = ti_open();
	CHECK_OK(ti_attach(mapped, fd, c->peer));
	CHECK_OK(ti_map(mapped, segs, MAX_SEGS, NULL));
	CHECK_OK(ti_attach(vmapped, fd, NULL));
	CHECK_OK(ti_vmap(vmapped));

	CHECK_OK(revoke(c));
	if (expect_status(mapped, "DMA importer after revoke", restore ? 1 : 2, 0, 0) ||
	    expect_status(vmapped, "CPU importer after revoke", restore ? 1 : 2, 0, 0))
		return fail("%s did not revoke the mappings", what);
	if (!restore) {
		CHECK_OK(ti_map(mapped, segs, MAX_SEGS, NULL));
		CHECK_OK(ti_vmap(vmapped));
		printf("%s revoked the dma-buf and gave it back when done\n", what);
		goto out;
	}
	CHECK_ERR(ti_map(mapped, segs, MAX_SEGS, NULL), ENODEV);
	CHECK_ERR(ti_vmap(vmapped), ENODEV);
	CHECK_ERR(ti_attach(late, fd, NULL), ENODEV);

	CHECK_OK(restore(c));
	CHECK_OK(ti_map(mapped, segs, MAX_SEGS, NULL));
	CHECK_OK(ti_vmap(vmapped));
	CHECK_OK(ti_attach(late, fd, NULL));
	if (expect_status(mapped, "DMA importer after restore", 2, 1, 0))
		return fail("restore after %s did not notify importers", what);
	printf("%s revoked the dma-buf and restore gave it back\n", what);
out:
	close(late);
	close(vmapped);
	close(mapped);
	close(fd);
	return 0;
}

static int memory_off(struct ctx *c)
{
	return vfio_set_memory_decode(c->dev, false);
}

static int memory_on(struct ctx *c)
{
	return vfio_set_memory_decode(c->dev, true);
}

static int device_reset(struct ctx *c)
{
	return vfio_reset(c->dev);
}

static int enter_d3hot(struct ctx *c)
{
	return vfio_set_power_state(c->dev, PM_STATE_D3HOT);
}

static int enter_d0(struct ctx *c)
{
	return vfio_set_power_state(c->dev, PM_STATE_D0);
}

static int hot_reset(struct ctx *c)
{
	return vfio_hot_reset(c->dev);
}

static int case_revoke_memory_disable(struct ctx *c)
{
	return revoke_and_restore(c, "clearing memory decode", memory_off, memory_on);
}

static int case_revoke_d3hot(struct ctx *c)
{
	if (!vfio_find_pm_cap(c->dev))
		return fail("%s has no power management capability", c->addr);
	return revoke_and_restore(c, "entering D3hot", enter_d3hot, enter_d0);
}

static int case_revoke_reset(struct ctx *c)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	if (ioctl(p2pmr_device_fd(c->dev), VFIO_DEVICE_GET_INFO, &info) ||
	    !(info.flags & VFIO_DEVICE_FLAGS_RESET))
		return fail("%s cannot be reset through VFIO", c->addr);
	return revoke_and_restore(c, "VFIO_DEVICE_RESET", device_reset, NULL);
}

static int case_revoke_hot_reset(struct ctx *c)
{
	if (p2pmr_device_api(c->dev) != P2PMR_VFIO_API_CDEV)
		return fail("hot reset without group fds needs the cdev API");
	return revoke_and_restore(c, "VFIO_DEVICE_PCI_HOT_RESET", hot_reset, NULL);
}

static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Unbinding the device from vfio-pci must revoke its dma-bufs at once, while
 * userspace still holds the device open (the unbind waits for that close),
 * and for good. The device is bound to vfio-pci again afterwards.
 */
static int case_unbind_revokes_for_good(struct ctx *c)
{
	struct p2pmr_range r = { 7 * MIB, c->page };
	struct dma_buf_ti_seg segs[MAX_SEGS];
	struct dma_buf_ti_status st;
	int ti, i, status;
	pid_t child;

	CHECK_OK(attach_new(c, &r, 1, c->peer, &ti));
	CHECK_OK(ti_map(ti, segs, MAX_SEGS, NULL));
	child = fork();
	if (child == 0) {
		/* The unbind waits for every open of the device: drop ours. */
		p2pmr_device_close(c->dev);
		_exit(sysfs_write("/sys/bus/pci/drivers/vfio-pci/unbind", c->addr) ? 1 : 0);
	}
	/* The unbind blocks until the device is closed; revoke comes first. */
	for (i = 0; i < 500; i++) {
		CHECK_OK(ti_status(ti, &st));
		if (st.move_notify_count)
			break;
		usleep(10000);
	}
	if (expect_status(ti, "importer while the unbind waits for the device to close", 1, 0, 0))
		return 1;
	CHECK_ERR(ti_map(ti, segs, MAX_SEGS, NULL), ENODEV);
	p2pmr_device_close(c->dev);
	c->dev = NULL;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		return fail("unbinding %s from vfio-pci failed", c->addr);
	CHECK_ERR(ti_map(ti, segs, MAX_SEGS, NULL), ENODEV);
	close(ti);
	/* driver_override still names vfio-pci: probing binds it again. */
	CHECK_OK(sysfs_write("/sys/bus/pci/drivers_probe", c->addr));
	CHECK_LIB(p2pmr_device_open(c->addr, P2PMR_VFIO_API_AUTO, &c->dev));
	printf("unbind revoked the dma-buf before the device was closed, for good\n");
	return 0;
}

static int case_close_revokes_for_good(struct ctx *c)
{
	struct p2pmr_range r = { 5 * MIB, 2 * c->page };
	struct dma_buf_ti_seg segs[MAX_SEGS];
	int ti;

	CHECK_OK(attach_new(c, &r, 1, c->peer, &ti));
	CHECK_OK(ti_map(ti, segs, MAX_SEGS, NULL));
	p2pmr_device_close(c->dev);
	c->dev = NULL;
	if (expect_status(ti, "importer after the device was closed", 1, 0, 0))
		return 1;
	CHECK_ERR(ti_map(ti, segs, MAX_SEGS, NULL), ENODEV);
	/* Opening the device again does not bring the old dma-buf back. */
	CHECK_LIB(p2pmr_device_open(c->addr, P2PMR_VFIO_API_AUTO, &c->dev));
	CHECK_ERR(ti_map(ti, segs, MAX_SEGS, NULL), ENODEV);
	CHECK_ERR(ti_vmap(ti), ENODEV);
	close(ti);
	printf("closing the device revoked the dma-buf for good\n");
	return 0;
}

static int case_created_revoked_when_decode_off(struct ctx *c)
{
	struct p2pmr_range r = { 6 * MIB, c->page };
	int fd, ti = ti_open();

	CHECK_OK(vfio_set_memory_decode(c->dev, false));
	CHECK_OK(export(c, &r, 1, &fd));
	CHECK_ERR(ti_attach(ti, fd, NULL), ENODEV);
	CHECK_OK(vfio_set_memory_decode(c->dev, true));
	CHECK_OK(ti_attach(ti, fd, NULL));
	CHECK_OK(ti_vmap(ti));
	close(ti);
	close(fd);
	printf("a dma-buf created with decode off starts revoked and is restored with decode\n");
	return 0;
}

static int case_many_buffers(struct ctx *c)
{
	enum { N = 300 };
	struct p2pmr_range r;
	int fds[N], i;

	for (i = 0; i < N; i++) {
		r.offset = (i % 64) * c->page;
		r.length = c->page;
		CHECK_OK(export(c, &r, 1, &fds[i]));
	}
	for (i = 0; i < N; i++)
		close(fds[i]);
	printf("%d dma-bufs created and closed\n", N);
	return 0;
}

/* --- stress: buffers come and go while decode toggles and resets run --- */

#define STRESS_THREADS 4	/* 3 buffer threads and the toggler */

struct stress {
	struct ctx *c;
	volatile bool stop;
	/* What each thread is doing, for the report when one gets stuck. */
	const char *volatile phase[STRESS_THREADS];
	pid_t tid[STRESS_THREADS];
	unsigned int next_slot;
	unsigned long created, attached, revoked_seen, toggles, resets;
	int error;
	pthread_mutex_t lock;
};

static void stress_error(struct stress *s, const char *what, int err)
{
	pthread_mutex_lock(&s->lock);
	if (!s->error) {
		s->error = err;
		fprintf(stderr, "stress: %s: unexpected %s\n", what, strerror(err));
	}
	s->stop = true;
	pthread_mutex_unlock(&s->lock);
}

static unsigned int stress_slot(struct stress *s)
{
	unsigned int slot = __atomic_fetch_add(&s->next_slot, 1, __ATOMIC_RELAXED);

	s->tid[slot] = gettid();
	return slot;
}

static void *stress_buffers(void *arg)
{
	struct dma_buf_ti_seg segs[MAX_SEGS];
	struct stress *s = arg;
	struct ctx *c = s->c;
	unsigned int me = stress_slot(s);
	unsigned long n = 0;
	int fd, ti, ret;

	while (!s->stop) {
		struct p2pmr_range r = { (n++ % 256) * c->page, c->page };

		s->phase[me] = "export";
		ret = p2pmr_dmabuf_export(c->dev, c->bar, &r, 1, &fd);
		if (ret) {
			stress_error(s, "export", ret);
			break;
		}
		__atomic_add_fetch(&s->created, 1, __ATOMIC_RELAXED);
		s->phase[me] = "attach";
		ti = ti_open();
		ret = ti_attach(ti, fd, (n & 1) ? c->peer : NULL);
		if (!ret) {
			__atomic_add_fetch(&s->attached, 1, __ATOMIC_RELAXED);
			s->phase[me] = (n & 1) ? "map" : "vmap";
			ret = (n & 1) ? ti_map(ti, segs, MAX_SEGS, NULL) : ti_vmap(ti);
		}
		/* Revoked under our feet is fine; anything else is not. */
		if (ret == -ENODEV)
			__atomic_add_fetch(&s->revoked_seen, 1, __ATOMIC_RELAXED);
		else if (ret)
			stress_error(s, "attach/map", -ret);
		/* Close the dma-buf and the importer in either order. */
		s->phase[me] = "close";
		if (n & 2) {
			close(fd);
			close(ti);
		} else {
			close(ti);
			close(fd);
		}
	}
	s->phase[me] = "done";
	return NULL;
}

static void *stress_toggler(void *arg)
{
	struct stress *s = arg;
	unsigned int me = stress_slot(s);
	int ret;

	while (!s->stop) {
		if (s->c->stress_toggle) {
			s->phase[me] = "decode toggle";
			ret = vfio_set_memory_decode(s->c->dev, false);
			if (!ret)
				ret = vfio_set_memory_decode(s->c->dev, true);
			if (ret) {
				stress_error(s, "memory decode toggle", -ret);
				break;
			}
			s->toggles++;
		}
		if (s->c->stress_reset && (!s->c->stress_toggle || s->toggles % 8 == 0)) {
			s->phase[me] = "reset";
			ret = device_reset(s->c);
			if (ret) {
				stress_error(s, "reset", -ret);
				break;
			}
			s->resets++;
		}
	}
	s->phase[me] = "done";
	return NULL;
}

/* A thread that does not stop: say where every thread is, kernel stacks too. */
static void stress_report_stuck(struct stress *s)
{
	char path[64], line[256];
	unsigned int i;
	FILE *f;

	for (i = 0; i < STRESS_THREADS; i++) {
		fprintf(stderr, "stress: thread %u (tid %d) is in: %s\n", i, s->tid[i],
			s->phase[i] ? s->phase[i] : "(not started)");
		snprintf(path, sizeof(path), "/proc/self/task/%d/stack", s->tid[i]);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f))
			fprintf(stderr, "    %s", line);
		if (f)
			fclose(f);
	}
}

/* Join, giving up after @secs: 0 when every thread finished. */
static int stress_join(pthread_t *threads, unsigned int n, int secs)
{
	struct timespec deadline;
	unsigned int i;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += secs;
	for (i = 0; i < n; i++)
		if (pthread_timedjoin_np(threads[i], NULL, &deadline))
			return -ETIMEDOUT;
	return 0;
}

static int case_stress(struct ctx *c)
{
	struct stress s = { .c = c, .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t threads[STRESS_THREADS];
	struct timespec t0, t1;
	unsigned int i;

	if (!c->peer)
		return fail("needs --peer");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < STRESS_THREADS - 1; i++)
		pthread_create(&threads[i], NULL, stress_buffers, &s);
	pthread_create(&threads[i], NULL, stress_toggler, &s);
	sleep(c->seconds);
	s.stop = true;
	/* Every step is short: a thread still busy after 30 s is stuck. */
	if (stress_join(threads, STRESS_THREADS, 30)) {
		stress_report_stuck(&s);
		fprintf(stderr, "stress: a thread did not finish within 30 s of the stop\n");
		_exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Leave the device decoding for whoever comes next. */
	vfio_set_memory_decode(c->dev, true);
	printf("stress: %.1f s, %d buffer threads: %lu dma-bufs created, %lu attached, %lu revoked under the importer; %lu decode toggles, %lu resets\n",
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, STRESS_THREADS - 1,
	       s.created, s.attached,
	       s.revoked_seen, s.toggles, s.resets);
	if (s.error)
		return 1;
	if (!s.created || !(s.toggles + s.resets))
		return fail("stress did no work");
	return 0;
}

/* --- Privilege and failed maps --- */

/*
 * Nobody, without capabilities, with two sessions root opened (a fresh one
 * and one attached and vmapped) and the dma-buf: every ioctl is refused
 * with EPERM. Exit status 0 when it holds.
 */
static int importer_unprivileged(int sock)
{
	struct dma_buf_ti_seg segs[MAX_SEGS];
	struct dma_buf_ti_status st;
	uint64_t word = 0;
	int fds[3];	/* fresh session, attached session, dma-buf */

	CHECK_OK(unpriv_drop());
	CHECK_OK(fds_recv(sock, fds, 3));
	CHECK_ERR(ti_attach(fds[0], fds[2], NULL), EPERM);
	CHECK_ERR(ti_attach(fds[1], fds[2], NULL), EPERM);
	CHECK_ERR(ti_map(fds[1], segs, MAX_SEGS, NULL), EPERM);
	CHECK_ERR(ti_unmap(fds[1]), EPERM);
	CHECK_ERR(ti_vmap(fds[1]), EPERM);
	CHECK_ERR(ti_read(fds[1], 0, &word, sizeof(word)), EPERM);
	CHECK_ERR(ti_write(fds[1], 0, &word, sizeof(word)), EPERM);
	CHECK_ERR(ti_status(fds[1], &st), EPERM);
	CHECK_ERR(ti_vunmap(fds[1]), EPERM);
	CHECK_ERR(ti_detach(fds[1]), EPERM);
	printf("uid %d without capabilities: attach, map, unmap, vmap, read, write, status, vunmap and detach all EPERM\n",
	       getuid());
	return 0;
}

/* The importer maps dma-bufs for any device: sessions root opened do nothing for others. */
static int case_importer_privilege(struct ctx *c)
{
	struct p2pmr_range r = { 3 * MIB, 2 * c->page };
	int fds[3], sv[2], status, ret;
	struct dma_buf_ti_status st;
	uint64_t word;
	pid_t pid;

	CHECK_OK(export(c, &r, 1, &fds[2]));
	fds[0] = ti_open();
	fds[1] = ti_open();
	if (fds[0] < 0 || fds[1] < 0)
		return fail("%s: %s", TEST_IMPORTER_DEV, strerror(-(fds[0] < 0 ? fds[0] : fds[1])));
	CHECK_OK(ti_attach(fds[1], fds[2], NULL));
	CHECK_OK(ti_vmap(fds[1]));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return fail("socketpair: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (!pid) {
		close(sv[0]);
		ret = importer_unprivileged(sv[1]);
		fflush(stdout);
		_exit(ret);
	}
	close(sv[1]);
	ret = pid < 0 ? -errno : fds_send(sv[0], fds, 3);
	close(sv[0]);
	if (ret || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return fail("the unprivileged process failed");
	/* Nothing it tried took effect: root's sessions are as they were. */
	if (expect_status(fds[1], "root's attached session after the refused calls", 0, 0, 1))
		return 1;
	CHECK_OK(ti_read(fds[1], 0, &word, sizeof(word)));
	CHECK_OK(ti_status(fds[0], &st));
	if (st.attached)
		return fail("the fresh session was attached by the unprivileged process");
	CHECK_OK(ti_attach(fds[0], fds[2], NULL));
	close(fds[0]);
	close(fds[1]);
	close(fds[2]);
	printf("root's sessions are as they were, and still work for root\n");
	return 0;
}

/*
 * MAP whose segment array cannot be written: EFAULT, and the mapping made
 * for it is undone, so that a MAP with a good array works next.
 */
static int case_importer_map_efault(struct ctx *c)
{
	struct p2pmr_range r = { 3 * MIB + 64 * c->page, c->page };
	struct dma_buf_ti_seg segs[MAX_SEGS];
	void *hole = mmap(NULL, c->page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *ro = mmap(NULL, c->page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const struct {
		const char *what;
		void *segs;
	} bad[] = {
		{ "address 1", (void *)1 },
		{ "an unmapped page", hole },
		{ "a read-only page", ro },
	};
	unsigned int i;
	int ti;

	if (!c->peer)
		return fail("needs --peer");
	if (hole == MAP_FAILED || ro == MAP_FAILED)
		return fail("mmap: %s", strerror(errno));
	munmap(hole, c->page);
	CHECK_OK(attach_new(c, &r, 1, c->peer, &ti));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[64];

		CHECK_ERR(ti_map(ti, bad[i].segs, MAX_SEGS, NULL), EFAULT);
		snprintf(what, sizeof(what), "after a MAP into %s", bad[i].what);
		if (expect_status(ti, what, 0, 0, 0))
			return 1;
	}
	CHECK_OK(ti_map(ti, segs, MAX_SEGS, NULL));
	if (expect_status(ti, "after a MAP into a good array", 0, 1, 0))
		return 1;
	close(ti);
	munmap(ro, c->page);
	printf("MAP into a bad segment array: EFAULT and nothing left mapped; the next MAP works\n");
	return 0;
}

struct test_case {
	const char *name;
	const char *desc;
	int (*fn)(struct ctx *c);
};

static const struct test_case cases[] = {
	{ "map-bus-addr", "an importer below the same switch maps the BAR's PCI bus address", case_map_bus_addr },
	{ "map-ranges-in-order", "a mapping has one segment per range, in the order given", case_map_ranges_in_order },
	{ "map-thru-host-bridge", "an importer across the host bridge gets a DMA-API (IOMMU) address", case_map_thru_host_bridge },
	{ "map-non-pci-refused", "an importer that is not a PCI device cannot map: EINVAL (no peer-to-peer path)", case_map_non_pci_refused },
	{ "map-8gib", "an 8 GiB BAR maps as one dma-buf, in segments below 4 GiB", case_map_8gib },
	{ "unfit-importers-refused", "static, non-peer-to-peer and pinned non-revocable importers are refused: EOPNOTSUPP", case_unfit_importers_refused },
	{ "pinned-revocable", "a pinned importer that declares itself revocable is accepted, and revoked", case_pinned_revocable },
	{ "revoke-wait-bounded", "an importer that keeps its mapping delays a revoke by the 1 s bound and is warned about", case_revoke_wait_bounded },
	{ "vmap-write-lands-in-bar", "bytes written through vmap of two ranges land in the BAR (host file)", case_vmap_write_lands_in_bar },
	{ "vmap-read-sees-bar", "vmap reads what the host file holds", case_vmap_read_sees_bar },
	{ "vmap-matches-bar-mmap", "bytes written through vmap show in the BAR's VFIO mmap", case_vmap_matches_bar_mmap },
	{ "vmap-scattered", "vmap of scattered, overlapping and repeated pages writes each BAR page it maps", case_vmap_scattered },
	{ "vmap-4096-ranges", "vmap of 4096 scattered one-page ranges: bytes land in the BAR pages", case_vmap_4096_ranges },
	{ "map-4096-ranges", "4096 ranges map as 4096 bus-address segments, each at its range", case_map_4096_ranges },
	{ "revoke-memory-disable", "clearing memory decode revokes (move_notify, ENODEV); setting it restores", case_revoke_memory_disable },
	{ "revoke-d3hot", "D3hot revokes; D0 restores", case_revoke_d3hot },
	{ "revoke-reset", "VFIO_DEVICE_RESET revokes, and the buffer is back after it", case_revoke_reset },
	{ "revoke-hot-reset", "a PCI hot reset revokes, and the buffer is back after it", case_revoke_hot_reset },
	{ "unbind-revokes-for-good", "unbinding from vfio-pci revokes at once, before the close, for good", case_unbind_revokes_for_good },
	{ "close-revokes-for-good", "closing the device revokes for good, even after reopening", case_close_revokes_for_good },
	{ "created-revoked-when-decode-off", "a dma-buf created with decode off starts revoked", case_created_revoked_when_decode_off },
	{ "many-buffers", "300 dma-bufs are created and closed", case_many_buffers },
	{ "stress", "dma-bufs created, attached and closed from 3 threads while decode toggles and resets run", case_stress },
	{ "importer-privilege", "sessions root opened, passed to nobody without capabilities: every ioctl EPERM", case_importer_privilege },
	{ "importer-map-efault", "MAP into a bad segment array: EFAULT, nothing left mapped, the next MAP works", case_importer_map_efault },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "bar", required_argument, NULL, 'b' },
		{ "file", required_argument, NULL, 'f' },
		{ "peer", required_argument, NULL, 'p' },
		{ "far", required_argument, NULL, 'F' },
		{ "seconds", required_argument, NULL, 's' },
		{ "triggers", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctx c = { .bar = 2, .seconds = 10, .stress_toggle = true, .stress_reset = true };
	unsigned long long start = 0;
	char path[128], line[128];
	const struct test_case *tc = NULL;
	unsigned int i;
	FILE *f;
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
		case 'p': c.peer = optarg; break;
		case 'F': c.far = optarg; break;
		case 's': c.seconds = atoi(optarg); break;
		case 't':
			c.stress_toggle = strstr(optarg, "decode");
			c.stress_reset = strstr(optarg, "reset");
			break;
		default: return 2;
		}
	}
	tc = CASES_FIND(cases, optind < argc ? argv[optind] : NULL);
	if (!tc || !c.addr) {
		fprintf(stderr, "usage: vfio-dmabuf-import-test --list | CASE --device BDF [--bar N] [--file F] [--peer BDF] [--far BDF] [--seconds S]\n");
		return 2;
	}
	c.page = sysconf(_SC_PAGESIZE);
	if (p2pmr_device_open(c.addr, P2PMR_VFIO_API_AUTO, &c.dev))
		return fail("%s", p2pmr_last_error());
	/* On x86 the bus address of a BAR is its CPU physical address. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", c.addr);
	f = fopen(path, "re");
	for (i = 0; f && i <= c.bar && fgets(line, sizeof(line), f); i++)
		start = strtoull(line, NULL, 16);
	if (f)
		fclose(f);
	c.bar_bus_addr = start;
	ret = tc->fn(&c);
	p2pmr_device_close(c.dev);
	return ret;
}
