// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr-fuzz: exporting BAR ranges, VFIO_DEVICE_FEATURE_DMA_BUF with fuzzed
 * arguments and p2pmr_dmabuf_export() with valid ones.
 *
 * The request is modelled on what Linux v6.19 accepts: what the kernel must
 * refuse (a range unaligned, empty, past the BAR or wrapping; no range; argsz
 * short of the feature structure; SET, no GET, unknown flag bits or an
 * unknown feature; a region that is not a BAR; a range in an unmapped page),
 * and what it must accept (the BAR under test, up to 4096 ranges inside it,
 * in order or repeating and overlapping each other, any argsz that covers
 * the structure, any open_flags). Accepting the first or refusing the second
 * with anything but ENODEV, ENOMEM or EMFILE is a finding; so is a new
 * dma-buf whose size, access mode or close-on-exec flag is not what was
 * asked for. What the model leaves open (other BARs, ranges past the fuzz
 * area) is not judged. Only dma-bufs of the BAR under test, inside the fuzz
 * area, go on to the other operations.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "fuzz.h"

/* The most ranges a request is filled with. */
#define FUZZ_MAX_RANGES		4096
#define FEATURE_HDR		sizeof(struct vfio_device_feature)
#define DMA_BUF_HDR		sizeof(struct vfio_device_feature_dma_buf)
#define RANGE_SIZE		sizeof(struct vfio_region_dma_range)

struct export_args {
	uint32_t argsz, flags, index, open_flags, nr;
	uint32_t filled;	/* ranges written (the rest is not there) */
	const char *bad;	/* why the kernel must refuse, or NULL */
	bool unsure;		/* the model does not say */
	bool probe;
	uint64_t size;
	uint64_t first;
};

/*
 * @n ranges inside the fuzz area, in order: contiguous (one time in two) or
 * with gaps, and one time in four with one range repeated over another
 * (overlapping or the same). When the area is too small for that many, they
 * may run past it: the model then says nothing.
 */
static void ranges_valid(struct fuzz_thread *t, struct vfio_region_dma_range *r,
			 unsigned int n, struct export_args *a)
{
	uint64_t page = t->f->page, pages = t->f->fuzz_size / page;
	uint64_t chunk = pages / (2 * n) ? pages / (2 * n) : 1, span = 0, at, gap, len;
	bool gaps = rng_one_in(&t->rng, 2);
	unsigned int i;

	a->size = 0;
	for (i = 0; i < n; i++) {
		gap = i && gaps && rng_one_in(&t->rng, 2) ? 1 + rng_below(&t->rng, chunk) : 0;
		len = 1 + rng_below(&t->rng, rng_one_in(&t->rng, 4) || chunk < 4 ? chunk : 4);
		r[i].offset = (span + gap) * page;	/* from the start, for now */
		r[i].length = len * page;
		span += gap + len;
		a->size += r[i].length;
	}
	if (span > pages)
		a->unsure = true;
	at = span < pages ? rng_below(&t->rng, pages - span + 1) * page : 0;
	for (i = 0; i < n; i++)
		r[i].offset += at;
	if (n > 1 && rng_one_in(&t->rng, 4)) {
		unsigned int from = rng_below(&t->rng, n), to = rng_below(&t->rng, n);

		a->size += r[from].length - r[to].length;
		r[to] = r[from];
	}
	a->first = n ? r[0].offset : 0;
}

/* Make one range wrong in a way the kernel must refuse. */
static void range_corrupt(struct fuzz_thread *t, struct vfio_region_dma_range *r,
			  unsigned int n, struct export_args *a)
{
	uint64_t page = t->f->page, bar = t->f->bar_size;
	struct vfio_region_dma_range *x = &r[rng_below(&t->rng, n)];

	switch (rng_below(&t->rng, 7)) {
	case 0:
		x->offset += 1 + rng_below(&t->rng, page - 1);
		a->bad = "an unaligned range offset";
		break;
	case 1:
		x->length += 1 + rng_below(&t->rng, page - 1);
		a->bad = "an unaligned range length";
		break;
	case 2:
		x->length = 0;
		a->bad = "a range of length 0";
		break;
	case 3:
		x->offset = bar - page * rng_below(&t->rng, 2);
		x->length = page * (2 + rng_below(&t->rng, 4));
		a->bad = "a range past the end of the BAR";
		break;
	case 4:
		x->offset = (UINT64_MAX & ~(page - 1)) - page * rng_below(&t->rng, 4);
		x->length = page * (8 + rng_below(&t->rng, 8));
		a->bad = "a range wrapping around";
		break;
	case 5:
		x->length = (UINT64_MAX / 2) & ~(page - 1);
		a->bad = "a range longer than the BAR";
		break;
	default:
		x->length = bar + page;
		a->bad = "a range longer than the BAR";
		break;
	}
}

static uint32_t pick_nr(struct rng *r)
{
	switch (rng_below(r, 16)) {
	case 0:
		return 0;
	case 1 ... 6:
		return 1;
	case 7 ... 10:
		return 2 + rng_below(r, 7);
	case 11 ... 12:
		return 9 + rng_below(r, 248);
	case 13 ... 14:
		return 257 + rng_below(r, FUZZ_MAX_RANGES - 256);
	default:
		return (uint32_t)rng_next(r) | 0x10000;
	}
}

static void pick_flags(struct fuzz_thread *t, struct export_args *a)
{
	const uint32_t get = VFIO_DEVICE_FEATURE_GET, set = VFIO_DEVICE_FEATURE_SET;

	a->flags = get | VFIO_DEVICE_FEATURE_DMA_BUF;
	switch (rng_below(&t->rng, 32)) {
	case 0 ... 1:
		a->flags |= VFIO_DEVICE_FEATURE_PROBE;
		a->probe = true;
		break;
	case 2:
		a->flags = set | VFIO_DEVICE_FEATURE_DMA_BUF;
		a->bad = "SET instead of GET";
		break;
	case 3:
		a->flags |= set;
		a->bad = "GET and SET";
		break;
	case 4:
		a->flags &= ~get;
		a->bad = "neither GET nor SET";
		break;
	case 5:
		a->flags |= 1U << (19 + rng_below(&t->rng, 13));
		a->bad = "unknown flag bits";
		break;
	case 6:
		/* Beyond the features the kernel has (the last is 11). */
		a->flags = get | (32 + rng_below(&t->rng, 0xffff - 32));
		a->bad = "an unknown feature";
		break;
	}
}

static void pick_region(struct fuzz_thread *t, struct export_args *a)
{
	a->index = t->f->bar;
	if (rng_one_in(&t->rng, 16)) {
		a->index = rng_below(&t->rng, 10);
		if (a->index >= P2PMR_MAX_BARS)
			a->bad = "a region that is not a BAR";
		else if (a->index != t->f->bar)
			a->unsure = true;
	} else if (rng_one_in(&t->rng, 64)) {
		a->index = (uint32_t)rng_next(&t->rng) | 0x100;
		a->bad = "a region that is not a BAR";
	}
}

static void pick_open_flags(struct fuzz_thread *t, struct export_args *a)
{
	static const uint32_t modes[] = { O_RDWR, O_RDONLY, O_WRONLY, O_RDWR };

	a->open_flags = modes[rng_below(&t->rng, 4)] | (rng_one_in(&t->rng, 2) ? O_CLOEXEC : 0);
	/* Both O_RDONLY and O_WRONLY (a file neither readable nor writable). */
	if (rng_one_in(&t->rng, 16))
		a->open_flags |= O_ACCMODE;
	else if (rng_one_in(&t->rng, 16))
		a->open_flags |= 1U << rng_below(&t->rng, 32);
}

static void pick_argsz(struct fuzz_thread *t, struct export_args *a)
{
	uint64_t exact = FEATURE_HDR + DMA_BUF_HDR + (uint64_t)a->nr * RANGE_SIZE;

	a->argsz = exact;
	if (exact > UINT32_MAX)
		a->unsure = true;
	if (rng_one_in(&t->rng, 8)) {
		/* Only the structure must be covered: the ranges are read anyway. */
		a->argsz = rng_below(&t->rng, exact);
		if (a->argsz < FEATURE_HDR ||
		    (!a->probe && a->argsz < FEATURE_HDR + DMA_BUF_HDR))
			a->bad = "argsz short of the feature structure";
	} else if (rng_one_in(&t->rng, 8)) {
		a->argsz = exact + 1 + rng_below(&t->rng, 4096);
	}
}

/*
 * Build the request at the end of the thread's scratch pages, so that it
 * ends where the PROT_NONE page begins: a kernel reading further faults
 * (EFAULT). One time in 32 the last range itself lies in that page.
 */
static struct vfio_device_feature *export_build(struct fuzz_thread *t, struct export_args *a)
{
	struct vfio_device_feature_dma_buf *get;
	struct vfio_device_feature *hdr;
	size_t bytes;

	memset(a, 0, sizeof(*a));
	pick_flags(t, a);
	pick_region(t, a);
	pick_open_flags(t, a);
	a->nr = pick_nr(&t->rng);
	a->filled = a->nr <= FUZZ_MAX_RANGES ? a->nr : 0;
	if (!a->nr)
		a->bad = "no range";
	else if (!a->filled)
		a->bad = "ranges in unmapped pages, or too many to copy";
	if (a->filled && rng_one_in(&t->rng, 32)) {
		a->filled--;
		if (!a->bad)
			a->bad = "a range in an unmapped page";
	}
	if (a->filled < a->nr)
		t->allow = EFAULT;
	pick_argsz(t, a);

	bytes = FEATURE_HDR + DMA_BUF_HDR + (size_t)a->filled * RANGE_SIZE;
	hdr = (void *)(t->scratch + t->scratch_len - bytes);
	memset(hdr, 0, bytes);
	hdr->argsz = a->argsz;
	hdr->flags = a->flags;
	get = (void *)hdr->data;
	get->region_index = a->index;
	get->open_flags = a->open_flags;
	get->nr_ranges = a->nr;
	if (a->filled) {
		ranges_valid(t, get->dma_ranges, a->filled, a);
		if (rng_one_in(&t->rng, 3))
			range_corrupt(t, get->dma_ranges, a->filled, a);
	}
	return hdr;
}

/* A new dma-buf must be what was asked for. */
static void export_check_fd(struct fuzz_thread *t, int fd, const struct export_args *a)
{
	off_t end = lseek(fd, 0, SEEK_END);
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	if (end != (off_t)a->size)
		fz_finding(t, "export: SEEK_END of a new dma-buf of %u range(s) says %lld, expected %llu",
			   a->nr, (long long)end, (unsigned long long)a->size);
	if (fl < 0 || (fl & O_ACCMODE) != (int)(a->open_flags & O_ACCMODE))
		fz_finding(t, "export: the new dma-buf's access mode is 0%o, asked for 0%o",
			   fl & O_ACCMODE, a->open_flags & O_ACCMODE);
	if (fdfl < 0 || !(fdfl & FD_CLOEXEC) != !(a->open_flags & O_CLOEXEC))
		fz_finding(t, "export: close-on-exec is %s, open_flags 0x%x",
			   fdfl & FD_CLOEXEC ? "set" : "clear", a->open_flags);
}

static int export_result(struct fuzz_thread *t, int ret, int err, const struct export_args *a)
{
	struct buf_meta m;

	if (ret < 0) {
		if (!a->bad && !a->unsure && !a->probe && err != ENODEV && err != ENOMEM &&
		    err != EMFILE)
			fz_finding(t, "export of a valid request (%u range(s), argsz %u, open_flags 0x%x) failed: %s",
				   a->nr, a->argsz, a->open_flags, fz_errname(err));
		return -err;
	}
	if (a->probe) {
		if (ret) {
			fz_finding(t, "export: a probe returned %d, expected 0", ret);
			close(ret);
		}
		return 0;
	}
	if (a->bad) {
		fz_finding(t, "export accepted a request with %s (fd %d)", a->bad, ret);
		close(ret);
		return 0;
	}
	if (a->index != t->f->bar || a->unsure) {
		/* Only buffers of the BAR under test go on to other operations. */
		close(ret);
		return 0;
	}
	export_check_fd(t, ret, a);
	m = (struct buf_meta){ a->size, a->first, a->open_flags & O_ACCMODE };
	pool_put(&t->f->bufs, &t->rng, ret, &m);
	return 0;
}

static int op_export(struct fuzz_thread *t)
{
	struct fuzz *f = t->f;
	struct p2pmr_device *dev;
	struct vfio_device_feature *hdr;
	struct export_args a;
	int ret, err;

	hdr = export_build(t, &a);
	dev = fz_dev_get(f);
	if (!dev)
		return FUZZ_SKIP;
	fz_note(t, "export: argsz %u flags 0x%x region %u open_flags 0x%x nr %u%s",
		a.argsz, a.flags, a.index, a.open_flags, a.nr, a.bad ? " (must fail)" : "");
	ret = ioctl(p2pmr_device_fd(dev), VFIO_DEVICE_FEATURE, hdr);
	err = errno;
	fz_dev_put(f);
	return export_result(t, ret, err, &a);
}

int fz_export_simple(struct fuzz_thread *t, struct buf_meta *m)
{
	struct vfio_region_dma_range vr[4];
	struct p2pmr_range r[4];
	struct p2pmr_device *dev;
	struct export_args a;
	unsigned int n = 1 + rng_below(&t->rng, 4), i;
	int fd, ret;

	ranges_valid(t, vr, n, &a);
	for (i = 0; i < n; i++)
		r[i] = (struct p2pmr_range){ vr[i].offset, vr[i].length };
	dev = fz_dev_get(t->f);
	if (!dev)
		return -ENODEV;
	fz_note(t, "p2pmr_dmabuf_export: %u range(s) from 0x%llx, %llu bytes", n,
		(unsigned long long)a.first, (unsigned long long)a.size);
	ret = p2pmr_dmabuf_export(dev, t->f->bar, r, n, &fd);
	fz_dev_put(t->f);
	if (ret)
		return -ret;
	*m = (struct buf_meta){ a.size, a.first, fcntl(fd, F_GETFL) & O_ACCMODE };
	return fd;
}

static int op_export_lib(struct fuzz_thread *t)
{
	struct buf_meta m;
	int fd = fz_export_simple(t, &m);

	if (fd < 0)
		return fd;
	if (lseek(fd, 0, SEEK_END) != (off_t)m.size)
		fz_finding(t, "p2pmr_dmabuf_export: the dma-buf is not %llu bytes",
			   (unsigned long long)m.size);
	pool_put(&t->f->bufs, &t->rng, fd, &m);
	return 0;
}

const struct fuzz_op fuzz_export_ops[] = {
	FUZZ_OP("export", op_export, 160,
		ERRNOS(EINVAL, EOVERFLOW, ENODEV, EOPNOTSUPP, ENOTTY, EMFILE, ENOMEM)),
	FUZZ_OP("export-lib", op_export_lib, 80, ERRNOS(ENODEV, ENOMEM, EMFILE)),
	FUZZ_OP_END,
};
