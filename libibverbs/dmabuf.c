// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Exporting ranges of a BAR as a dma-buf (VFIO_DEVICE_FEATURE_DMA_BUF).
 * The kernel validates the request; when it refuses, this file works out
 * which part of the request was wrong, so the message can name it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "p2pmr.h"
#include "p2pmr_private.h"

/* What a kernel without the feature (vfio-pci's ENOTTY) means for the user. */
#define NO_FEATURE_HINT \
	"kernel lacks VFIO_DEVICE_FEATURE_DMA_BUF (it cannot export VFIO BARs as dma-bufs): install the p2pmr kernel (Linux 6.19 and later have the feature too)"

/**
 * p2pmr_dmabuf_supported() - can @dev export its BARs as dma-bufs?
 *
 * Return: true if the kernel offers VFIO_DEVICE_FEATURE_DMA_BUF for @dev;
 * false if it does not (errno EOPNOTSUPP) or the probe failed (its errno),
 * with p2pmr_last_error() saying which.
 */
bool p2pmr_dmabuf_supported(struct p2pmr_device *dev)
{
	struct vfio_device_feature probe = {
		.argsz = sizeof(probe),
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			 VFIO_DEVICE_FEATURE_DMA_BUF,
	};

	p2pmr_clear_error();
	if (!ioctl(p2pmr_device_fd(dev), VFIO_DEVICE_FEATURE, &probe))
		return true;
	if (errno == ENOTTY || errno == EOPNOTSUPP)
		p2pmr_set_error(EOPNOTSUPP, NO_FEATURE_HINT);
	else
		p2pmr_set_error(errno, "probing VFIO_DEVICE_FEATURE_DMA_BUF on %s failed",
				p2pmr_device_pci_addr(dev));
	return false;
}

/* After an EINVAL from the kernel: name the first range that is wrong. */
static int explain_einval(struct p2pmr_device *dev, unsigned int bar,
			  const struct p2pmr_range *ranges, unsigned int nr_ranges)
{
	uint64_t page = sysconf(_SC_PAGESIZE);
	struct p2pmr_bar_info info;
	uint64_t total = 0;
	unsigned int i;

	if (p2pmr_device_bar_info(dev, bar, &info))
		return EINVAL;	/* with the message of why @bar is not a BAR */
	if (!info.size || !info.is_memory)
		return p2pmr_set_error(EINVAL, "BAR %u of %s is %s: only memory BARs can be exported",
				       bar, p2pmr_device_pci_addr(dev),
				       info.size ? "an I/O BAR" : "not implemented");
	for (i = 0; i < nr_ranges; i++) {
		const struct p2pmr_range *r = &ranges[i];

		if (!r->length)
			return p2pmr_set_error(EINVAL, "range %u has length 0", i);
		if (r->offset % page || r->length % page)
			return p2pmr_set_error(EINVAL,
					       "range %u (offset 0x%" PRIx64 ", length 0x%" PRIx64
					       ") is not aligned to the %" PRIu64 "-byte page",
					       i, r->offset, r->length, page);
		if (r->offset > info.size || r->length > info.size - r->offset)
			return p2pmr_set_error(EINVAL,
					       "range %u (offset 0x%" PRIx64 ", length 0x%" PRIx64
					       ") ends past BAR %u of %s, which has 0x%" PRIx64 " bytes",
					       i, r->offset, r->length, bar, p2pmr_device_pci_addr(dev),
					       info.size);
		if (__builtin_add_overflow(total, r->length, &total) || total >> 63)
			return p2pmr_set_error(EINVAL,
					       "the lengths of the ranges add up to 2^63 bytes or more (at range %u)",
					       i);
	}
	return p2pmr_set_error(EINVAL, "the kernel refused the %u range(s) of BAR %u of %s",
			       nr_ranges, bar, p2pmr_device_pci_addr(dev));
}

/**
 * p2pmr_dmabuf_export() - export ranges of a BAR as one dma-buf
 * @dev: the VFIO device
 * @bar: BAR index, 0..5
 * @ranges: @nr_ranges page-aligned ranges of the BAR; the dma-buf is their
 *          concatenation, in this order
 * @fdp: the dma-buf fd (read-write, close-on-exec) on success
 *
 * Return: 0, or an errno with p2pmr_last_error() saying why: EINVAL for a
 * bad range (the message names it), ENODEV for a BAR that cannot be
 * exported, EOPNOTSUPP when the kernel lacks the feature or the BAR has no
 * peer-to-peer provider.
 */
int p2pmr_dmabuf_export(struct p2pmr_device *dev, unsigned int bar,
			const struct p2pmr_range *ranges, unsigned int nr_ranges,
			int *fdp)
{
	struct vfio_device_feature_dma_buf *req;
	struct vfio_device_feature *hdr;
	unsigned int i;
	size_t argsz;
	int fd, err;

	p2pmr_clear_error();
	if (!nr_ranges)
		return p2pmr_set_error(EINVAL, "no range to export");
	argsz = sizeof(*hdr) + sizeof(*req) + nr_ranges * sizeof(req->dma_ranges[0]);
	hdr = calloc(1, argsz);
	if (!hdr)
		return p2pmr_set_error(ENOMEM, "out of memory");
	hdr->argsz = argsz;
	hdr->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	req = (struct vfio_device_feature_dma_buf *)hdr->data;
	req->region_index = bar;
	/* Open for writing: RDMA writes into it (a write-capable MR needs that). */
	req->open_flags = O_RDWR | O_CLOEXEC;
	req->nr_ranges = nr_ranges;
	for (i = 0; i < nr_ranges; i++) {
		req->dma_ranges[i].offset = ranges[i].offset;
		req->dma_ranges[i].length = ranges[i].length;
	}

	fd = ioctl(p2pmr_device_fd(dev), VFIO_DEVICE_FEATURE, hdr);
	err = errno;
	free(hdr);
	if (fd >= 0) {
		*fdp = fd;
		return 0;
	}
	switch (err) {
	case ENOTTY:
		return p2pmr_set_error(EOPNOTSUPP, NO_FEATURE_HINT);
	case EINVAL:
	case EOVERFLOW:
		return explain_einval(dev, bar, ranges, nr_ranges);
	case ENODEV:
		return p2pmr_set_error(ENODEV, "BAR %u of %s cannot be exported (not a memory BAR 0..5)",
				       bar, p2pmr_device_pci_addr(dev));
	case EOPNOTSUPP:
		return p2pmr_set_error(EOPNOTSUPP,
				       "BAR %u of %s has no peer-to-peer DMA provider (kernel without CONFIG_PCI_P2PDMA?)",
				       bar, p2pmr_device_pci_addr(dev));
	default:
		return p2pmr_set_error(err, "exporting BAR %u of %s as a dma-buf failed", bar,
				       p2pmr_device_pci_addr(dev));
	}
}

/* Find "key:\t<number>" in /proc/self/fdinfo/<fd>; ENOENT if it is not there. */
static int fdinfo_number(int fd, const char *key, uint64_t *valp)
{
	char path[64], line[256];
	size_t key_len = strlen(key);
	int ret = ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, key_len) && line[key_len] == ':') {
			*valp = strtoull(line + key_len + 1, NULL, 0);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

/**
 * p2pmr_dmabuf_size() - the size of the dma-buf behind @fd
 *
 * Return: 0 with the size in *@sizep; EBADF if @fd is not open, EINVAL if
 * it is not a dma-buf (its fdinfo has no exporter name).
 */
int p2pmr_dmabuf_size(int fd, uint64_t *sizep)
{
	uint64_t unused;
	int ret;

	p2pmr_clear_error();
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return p2pmr_set_error(EBADF, "fd %d is not open", fd);
	/* Only dma-bufs show their exporter; "size" alone is not enough. */
	ret = fdinfo_number(fd, "exp_name", &unused);
	if (ret == ENOENT)
		return p2pmr_set_error(EINVAL, "fd %d is not a dma-buf fd", fd);
	if (!ret)
		ret = fdinfo_number(fd, "size", sizep);
	if (ret)
		return p2pmr_set_error(ret, "cannot read /proc/self/fdinfo/%d", fd);
	return 0;
}
