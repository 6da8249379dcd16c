// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * vfio-dmabuf-export-test: VFIO_DEVICE_FEATURE_DMA_BUF, one case at a time,
 * through the raw ioctl so every errno is the kernel's own.
 *
 *   vfio-dmabuf-export-test --list
 *   vfio-dmabuf-export-test CASE PCI_ADDR BAR
 *
 * What is accepted and every errno are those of Linux v6.19, whose callers
 * (VMMs, userspace drivers) must work unchanged: ranges may overlap or
 * repeat, their number is bounded only by memory, the range array is read
 * for nr_ranges entries whatever argsz says, and open_flags are taken as
 * open(2) takes them. Exit status 0 when the case holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "check.h"
#include "p2pmr.h"
#include "ranges.h"

struct ctx {
	struct p2pmr_device *dev;
	unsigned int bar;
	uint64_t bar_size;
	uint64_t page;
};

/* One request: header, dma-buf feature, ranges; argsz as the caller says. */
struct request {
	struct vfio_device_feature *hdr;
	struct vfio_device_feature_dma_buf *buf;
};

static struct request request_new(unsigned int bar, unsigned int nr_ranges)
{
	size_t len = sizeof(struct vfio_device_feature) +
		     sizeof(struct vfio_device_feature_dma_buf) +
		     nr_ranges * sizeof(struct vfio_region_dma_range);
	struct request r;

	r.hdr = calloc(1, len);
	if (!r.hdr) {
		perror("calloc");
		exit(1);
	}
	r.hdr->argsz = len;
	r.hdr->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	r.buf = (struct vfio_device_feature_dma_buf *)r.hdr->data;
	r.buf->region_index = bar;
	r.buf->open_flags = O_CLOEXEC;
	r.buf->nr_ranges = nr_ranges;
	return r;
}

static void request_range(struct request *r, unsigned int i, uint64_t off, uint64_t len)
{
	r->buf->dma_ranges[i].offset = off;
	r->buf->dma_ranges[i].length = len;
}

/* Send; return the fd, or -errno. Frees the request. */
static int request_send(struct ctx *c, struct request *r)
{
	int ret = ioctl(p2pmr_device_fd(c->dev), VFIO_DEVICE_FEATURE, r->hdr);

	if (ret < 0)
		ret = -errno;
	free(r->hdr);
	return ret;
}

static int expect_errno(struct ctx *c, struct request *r, int want)
{
	int ret = request_send(c, r);

	if (ret >= 0) {
		close(ret);
		return fail("expected %s, the export succeeded", strerror(want));
	}
	if (ret != -want)
		return fail("expected errno %d (%s), got %d (%s)", want, strerror(want), -ret,
			    strerror(-ret));
	printf("refused with %s, as expected\n", strerror(want));
	return 0;
}

/* The export succeeds; the fd has @size bytes and, in F_GETFL, @fl_flags. */
static int expect_fd_with(struct ctx *c, struct request *r, uint64_t size, bool cloexec,
			  int fl_flags)
{
	int fd = request_send(c, r), flags, fl;
	off_t end;

	if (fd < 0)
		return fail("expected a dma-buf fd, got %s", strerror(-fd));
	end = lseek(fd, 0, SEEK_END);
	flags = fcntl(fd, F_GETFD);
	fl = fcntl(fd, F_GETFL);
	close(fd);
	if ((fl & fl_flags) != fl_flags)
		return fail("F_GETFL: expected 0x%x among the flags, got 0x%x", fl_flags, fl);
	if (end < 0 || (uint64_t)end != size)
		return fail("dma-buf size: expected %" PRIu64 ", lseek(SEEK_END) gave %lld", size,
			    (long long)end);
	if (!!(flags & FD_CLOEXEC) != cloexec)
		return fail("FD_CLOEXEC: expected %s", cloexec ? "set" : "clear");
	printf("dma-buf of %" PRIu64 " bytes, close-on-exec %s\n", size, cloexec ? "set" : "clear");
	return 0;
}

static int expect_fd_of_size(struct ctx *c, struct request *r, uint64_t size, bool cloexec)
{
	return expect_fd_with(c, r, size, cloexec, 0);
}

static int case_probe(struct ctx *c)
{
	struct vfio_device_feature probe = {
		.argsz = sizeof(probe),
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			 VFIO_DEVICE_FEATURE_DMA_BUF,
	};

	if (ioctl(p2pmr_device_fd(c->dev), VFIO_DEVICE_FEATURE, &probe))
		return fail("PROBE of the GET feature failed: %s", strerror(errno));
	probe.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_DMA_BUF;
	if (!ioctl(p2pmr_device_fd(c->dev), VFIO_DEVICE_FEATURE, &probe))
		return fail("PROBE of SET succeeded; the feature is GET only");
	printf("PROBE reports GET support and no SET\n");
	return 0;
}

static int case_one_range(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	request_range(&r, 0, c->page, 4 * c->page);
	return expect_fd_of_size(c, &r, 4 * c->page, true);
}

static int case_whole_bar(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	request_range(&r, 0, 0, c->bar_size);
	return expect_fd_of_size(c, &r, c->bar_size, true);
}

static int case_many_ranges(struct ctx *c)
{
	unsigned int i, n = 16;
	struct request r = request_new(c->bar, n);

	/* Every other page, in reverse order: size is the sum. */
	for (i = 0; i < n; i++)
		request_range(&r, i, (2 * (n - i)) * c->page, c->page);
	return expect_fd_of_size(c, &r, n * c->page, true);
}

/* @n one-page ranges scattered over the BAR's first 64 pages. */
static int export_scattered(struct ctx *c, unsigned int n)
{
	struct p2pmr_range *ranges = calloc(n, sizeof(*ranges));
	struct request r = request_new(c->bar, n);
	unsigned int i;

	if (!ranges)
		return -ENOMEM;
	ranges_scattered_pages(ranges, n, 0, c->page);
	for (i = 0; i < n; i++)
		request_range(&r, i, ranges[i].offset, ranges[i].length);
	free(ranges);
	return expect_fd_of_size(c, &r, (uint64_t)n * c->page, true);
}

static int case_ranges_1024(struct ctx *c)
{
	return export_scattered(c, 1024);
}

static int case_ranges_4096(struct ctx *c)
{
	return export_scattered(c, 4096);
}

/* So many ranges that the kernel cannot copy them: ENOMEM, nothing read. */
static int case_ranges_beyond_memory(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	request_range(&r, 0, 0, c->page);
	r.buf->nr_ranges = UINT32_MAX;
	return expect_errno(c, &r, ENOMEM);
}

static int case_open_flags_zero(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	r.buf->open_flags = 0;
	request_range(&r, 0, 0, c->page);
	return expect_fd_of_size(c, &r, c->page, false);
}

static int case_flags_nonzero(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	r.buf->flags = 1;
	request_range(&r, 0, 0, c->page);
	return expect_errno(c, &r, EINVAL);
}

static int case_no_ranges(struct ctx *c)
{
	struct request r = request_new(c->bar, 0);

	return expect_errno(c, &r, EINVAL);
}

static int case_region_rom(struct ctx *c)
{
	struct request r = request_new(VFIO_PCI_ROM_REGION_INDEX, 1);

	request_range(&r, 0, 0, c->page);
	return expect_errno(c, &r, ENODEV);
}

static int case_region_config(struct ctx *c)
{
	struct request r = request_new(VFIO_PCI_CONFIG_REGION_INDEX, 1);

	request_range(&r, 0, 0, c->page);
	return expect_errno(c, &r, ENODEV);
}

static int case_region_huge(struct ctx *c)
{
	struct request r = request_new(0xffffffffu, 1);

	request_range(&r, 0, 0, c->page);
	return expect_errno(c, &r, ENODEV);
}

static int case_zero_length(struct ctx *c)
{
	struct request r = request_new(c->bar, 2);

	request_range(&r, 0, 0, c->page);
	request_range(&r, 1, c->page, 0);
	return expect_errno(c, &r, EINVAL);
}

static int case_unaligned_offset(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	request_range(&r, 0, 512, c->page);
	return expect_errno(c, &r, EINVAL);
}

static int case_unaligned_length(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	request_range(&r, 0, 0, c->page + 512);
	return expect_errno(c, &r, EINVAL);
}

static int case_past_end(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	request_range(&r, 0, c->bar_size - c->page, 2 * c->page);
	return expect_errno(c, &r, EINVAL);
}

static int case_offset_past_end(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	request_range(&r, 0, c->bar_size, c->page);
	return expect_errno(c, &r, EINVAL);
}

/* offset + length wraps around 2^64: upstream says EOVERFLOW. */
static int case_offset_wraps(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	request_range(&r, 0, UINT64_MAX & ~(c->page - 1), 2 * c->page);
	return expect_errno(c, &r, EOVERFLOW);
}

/* The sum of the lengths wraps around 2^64. */
static int case_total_length_wraps(struct ctx *c)
{
	struct request r = request_new(c->bar, 2);

	request_range(&r, 0, 0, UINT64_MAX & ~(c->page - 1));
	request_range(&r, 1, 0, UINT64_MAX & ~(c->page - 1));
	return expect_errno(c, &r, EINVAL);
}

static int case_overlap(struct ctx *c)
{
	struct request r = request_new(c->bar, 2);

	request_range(&r, 0, 0, 2 * c->page);
	request_range(&r, 1, c->page, 2 * c->page);
	return expect_fd_of_size(c, &r, 4 * c->page, true);
}

static int case_repeated(struct ctx *c)
{
	struct request r = request_new(c->bar, 3);

	request_range(&r, 0, 5 * c->page, c->page);
	request_range(&r, 1, 5 * c->page, c->page);
	request_range(&r, 2, 5 * c->page, c->page);
	return expect_fd_of_size(c, &r, 3 * c->page, true);
}

/* The whole BAR, 64 times over: a dma-buf far larger than its BAR. */
static int case_bar_many_times(struct ctx *c)
{
	struct request r = request_new(c->bar, 64);
	unsigned int i;

	for (i = 0; i < 64; i++)
		request_range(&r, i, 0, c->bar_size);
	return expect_fd_of_size(c, &r, 64 * c->bar_size, true);
}

static int case_argsz_short(struct ctx *c)
{
	struct request r = request_new(c->bar, 4);
	unsigned int i;

	for (i = 0; i < 4; i++)
		request_range(&r, i, i * c->page, c->page);
	/* argsz covers only the first range of the four: all four are read. */
	r.hdr->argsz -= 3 * sizeof(struct vfio_region_dma_range);
	return expect_fd_of_size(c, &r, 4 * c->page, true);
}

static int case_argsz_header_only(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	request_range(&r, 0, 0, c->page);
	r.hdr->argsz = sizeof(struct vfio_device_feature);
	return expect_errno(c, &r, EINVAL);
}

/* Flags open(2) would ignore here are ignored; O_NONBLOCK reaches the file. */
static int case_open_flags_other(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	r.buf->open_flags = O_RDWR | O_CLOEXEC | O_NONBLOCK | O_TRUNC | O_CREAT;
	request_range(&r, 0, 0, c->page);
	return expect_fd_with(c, &r, c->page, true, O_RDWR | O_NONBLOCK);
}

static int case_set_refused(struct ctx *c)
{
	struct request r = request_new(c->bar, 1);

	r.hdr->flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_BUF;
	request_range(&r, 0, 0, c->page);
	return expect_errno(c, &r, EINVAL);
}

/* Export from the first BAR @pick accepts: EINVAL, as upstream. */
static int expect_bar_refused(struct ctx *c, const char *what,
			      bool (*pick)(const struct p2pmr_bar_info *info))
{
	struct p2pmr_bar_info info;
	unsigned int bar;
	struct request r;

	for (bar = 0; bar < P2PMR_MAX_BARS; bar++)
		if (!p2pmr_device_bar_info(c->dev, bar, &info) && pick(&info))
			break;
	if (bar == P2PMR_MAX_BARS)
		return fail("the device has no %s; pick another device", what);
	r = request_new(bar, 1);
	request_range(&r, 0, 0, c->page);
	printf("BAR %u is %s\n", bar, what);
	return expect_errno(c, &r, EINVAL);
}

static bool bar_unimplemented(const struct p2pmr_bar_info *info)
{
	return !info->size;
}

static bool bar_io(const struct p2pmr_bar_info *info)
{
	return info->size && !info->is_memory;
}

/* A BAR index the device does not implement has no memory to export. */
static int case_unimplemented_bar(struct ctx *c)
{
	return expect_bar_refused(c, "an unimplemented BAR", bar_unimplemented);
}

/* An I/O BAR is not memory a peer can reach. */
static int case_io_bar(struct ctx *c)
{
	return expect_bar_refused(c, "an I/O BAR", bar_io);
}

struct test_case {
	const char *name;
	const char *desc;
	int (*fn)(struct ctx *c);
	bool finds_own_bar;	/* does not use the BAR given on the command line */
};

#define CASE(n, d, f) { .name = n, .desc = d, .fn = f }
#define CASE_OWN_BAR(n, d, f) { .name = n, .desc = d, .fn = f, .finds_own_bar = true }

static const struct test_case cases[] = {
	CASE("probe", "PROBE reports the feature, GET only", case_probe),
	CASE("one-range", "one range exports a dma-buf of its length, close-on-exec", case_one_range),
	CASE("whole-bar", "the whole BAR exports as one dma-buf", case_whole_bar),
	CASE("many-ranges", "16 scattered ranges export as one dma-buf of their total size", case_many_ranges),
	CASE("ranges-1024", "1024 scattered ranges export as one dma-buf", case_ranges_1024),
	CASE("ranges-4096", "4096 scattered ranges export as one dma-buf", case_ranges_4096),
	CASE("open-flags-zero", "open_flags 0 gives an fd without close-on-exec", case_open_flags_zero),
	CASE("flags-nonzero", "non-zero flags: EINVAL", case_flags_nonzero),
	CASE("no-ranges", "nr_ranges 0: EINVAL", case_no_ranges),
	CASE("ranges-beyond-memory", "nr_ranges 2^32-1: ENOMEM, nothing copied", case_ranges_beyond_memory),
	CASE("region-rom", "the ROM region: ENODEV", case_region_rom),
	CASE("region-config", "the config region: ENODEV", case_region_config),
	CASE("region-huge", "region index 0xffffffff: ENODEV", case_region_huge),
	CASE_OWN_BAR("unimplemented-bar", "a BAR the device does not implement: EINVAL", case_unimplemented_bar),
	CASE_OWN_BAR("io-bar", "an I/O BAR: EINVAL", case_io_bar),
	CASE("zero-length", "a range of length 0: EINVAL", case_zero_length),
	CASE("unaligned-offset", "an offset not page aligned: EINVAL", case_unaligned_offset),
	CASE("unaligned-length", "a length not page aligned: EINVAL", case_unaligned_length),
	CASE("past-end", "a range ending past the BAR: EINVAL", case_past_end),
	CASE("offset-past-end", "a range starting at the end of the BAR: EINVAL", case_offset_past_end),
	CASE("offset-wraps", "offset + length wrapping around 2^64: EOVERFLOW", case_offset_wraps),
	CASE("total-length-wraps", "lengths whose sum wraps around 2^64: EINVAL", case_total_length_wraps),
	CASE("overlap", "overlapping ranges export; the size is the sum of the lengths", case_overlap),
	CASE("repeated", "the same page three times exports as three pages", case_repeated),
	CASE("bar-many-times", "the whole BAR 64 times over exports", case_bar_many_times),
	CASE("argsz-short", "argsz not covering every range: the ranges are read all the same", case_argsz_short),
	CASE("argsz-header-only", "argsz smaller than the feature struct: EINVAL", case_argsz_header_only),
	CASE("open-flags-other", "O_NONBLOCK reaches the file, O_TRUNC and O_CREAT are ignored", case_open_flags_other),
	CASE("set-refused", "SET of the GET-only feature: EINVAL", case_set_refused),
};

int main(int argc, char **argv)
{
	struct p2pmr_bar_info info;
	struct ctx c;
	size_t i;
	int ret;

	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			printf("%s\t%s\n", cases[i].name, cases[i].desc);
		return 0;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: vfio-dmabuf-export-test --list | CASE PCI_ADDR BAR\n");
		return 2;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(cases[i].name, argv[1]))
			break;
	if (i == sizeof(cases) / sizeof(cases[0])) {
		fprintf(stderr, "vfio-dmabuf-export-test: no case '%s' (--list)\n", argv[1]);
		return 2;
	}
	ret = p2pmr_device_open(argv[2], P2PMR_VFIO_API_AUTO, &c.dev);
	if (ret) {
		fprintf(stderr, "vfio-dmabuf-export-test: %s\n", p2pmr_last_error());
		return 1;
	}
	c.bar = strtoul(argv[3], NULL, 0);
	c.page = sysconf(_SC_PAGESIZE);
	ret = p2pmr_device_bar_info(c.dev, c.bar, &info);
	if (ret || (!cases[i].finds_own_bar && info.size < 64 * c.page)) {
		fprintf(stderr, "vfio-dmabuf-export-test: BAR %u: %s\n", c.bar,
			ret ? p2pmr_last_error() : "smaller than 64 pages");
		p2pmr_device_close(c.dev);
		return 1;
	}
	c.bar_size = info.size;
	ret = cases[i].fn(&c);
	p2pmr_device_close(c.dev);
	return ret;
}
