// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * iommufd for userspace drivers: one /dev/iommu context, devices bound to
 * it through their VFIO cdev, I/O address spaces (IOAS) they attach to, and
 * mappings in them: host memory by virtual address (IOMMU_IOAS_MAP), a
 * memfd or a VFIO BAR dma-buf by fd (IOMMU_IOAS_MAP_FILE: Linux 6.13 for
 * memfds, 6.19 for VFIO dma-bufs, the p2pmr kernel for both). A device
 * attached to an IOAS reaches, at an IOVA, what the IOAS maps there: host
 * memory, or another device's BAR (peer-to-peer DMA).
 *
 * The errnos are the kernel's; each failure's message says which argument
 * the kernel refused, from what the errno means for that command.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "p2pmr.h"
#include "p2pmr_private.h"

/*
 * IOMMU_IOAS_MAP_FILE came with Linux 6.13; the 6.12 uAPI headers lack it.
 * Upstream's definition, byte for byte (include/uapi/linux/iommufd.h).
 */
#ifndef IOMMU_IOAS_MAP_FILE
#define P2PMR_IOMMUFD_CMD_IOAS_MAP_FILE 0x8f
struct iommu_ioas_map_file {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__s32 fd;
	__aligned_u64 start;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOMMU_IOAS_MAP_FILE _IO(IOMMUFD_TYPE, P2PMR_IOMMUFD_CMD_IOAS_MAP_FILE)
#endif

_Static_assert((int)P2PMR_IOAS_MAP_FIXED_IOVA == (int)IOMMU_IOAS_MAP_FIXED_IOVA &&
	       (int)P2PMR_IOAS_MAP_WRITEABLE == (int)IOMMU_IOAS_MAP_WRITEABLE &&
	       (int)P2PMR_IOAS_MAP_READABLE == (int)IOMMU_IOAS_MAP_READABLE,
	       "p2pmr_ioas_map_flags are IOMMU_IOAS_MAP's");
_Static_assert(sizeof(struct iommu_ioas_map_file) == 40, "upstream's layout");

#define MAP_FLAGS (P2PMR_IOAS_MAP_FIXED_IOVA | P2PMR_IOAS_MAP_WRITEABLE | \
		   P2PMR_IOAS_MAP_READABLE)

struct p2pmr_iommufd {
	int fd;
	atomic_uint devices;	/* bound through p2pmr_device_bind_iommufd() */
};

/**
 * p2pmr_iommufd_open() - open /dev/iommu
 * @ictxp: the context on success
 *
 * Return: 0, or ENOENT when the kernel has no iommufd (no /dev/iommu),
 * EACCES without the rights to it, or open()'s errno.
 */
int p2pmr_iommufd_open(struct p2pmr_iommufd **ictxp)
{
	struct p2pmr_iommufd *ictx;
	int ret;

	p2pmr_clear_error();
	ictx = calloc(1, sizeof(*ictx));
	if (!ictx)
		return p2pmr_set_error(ENOMEM, "out of memory");
	if (access("/dev/iommu", F_OK)) {
		ret = p2pmr_set_error(ENOENT,
				      "no /dev/iommu: the kernel has no iommufd (CONFIG_IOMMUFD, Linux 6.2 and later)");
		goto err;
	}
	ret = p2pmr_open_node("/dev/iommu", &ictx->fd);
	if (ret)
		goto err;
	atomic_init(&ictx->devices, 0);
	*ictxp = ictx;
	return 0;
err:
	free(ictx);
	return ret;
}

/**
 * p2pmr_iommufd_close() - close an iommufd context and everything in it
 *
 * The kernel destroys its IOASes and their mappings. Devices bound to it
 * must be closed first.
 *
 * Return: 0, or EBUSY while devices are bound to it (nothing is closed).
 */
int p2pmr_iommufd_close(struct p2pmr_iommufd *ictx)
{
	unsigned int n;

	p2pmr_clear_error();
	if (!ictx)
		return 0;
	n = atomic_load(&ictx->devices);
	if (n)
		return p2pmr_set_error(EBUSY,
				       "%u device%s still bound to iommufd %d: p2pmr_device_close() them first",
				       n, n == 1 ? " is" : "s are", ictx->fd);
	close(ictx->fd);
	free(ictx);
	return 0;
}

int p2pmr_iommufd_fd(const struct p2pmr_iommufd *ictx)
{
	return ictx->fd;
}

void p2pmr_iommufd_put(struct p2pmr_iommufd *ictx)
{
	atomic_fetch_sub(&ictx->devices, 1);
}

/**
 * p2pmr_ioas_alloc() - a new, empty I/O address space in @ictx
 * @ioas_idp: its id on success
 *
 * Return: 0 or the errno of IOMMU_IOAS_ALLOC.
 */
int p2pmr_ioas_alloc(struct p2pmr_iommufd *ictx, uint32_t *ioas_idp)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	p2pmr_clear_error();
	if (ioctl(ictx->fd, IOMMU_IOAS_ALLOC, &cmd))
		return p2pmr_set_error(errno, "IOMMU_IOAS_ALLOC on iommufd %d failed", ictx->fd);
	*ioas_idp = cmd.out_ioas_id;
	return 0;
}

/**
 * p2pmr_ioas_destroy() - destroy IOAS @ioas_id and its mappings
 *
 * Return: 0, or ENOENT for no such IOAS, EBUSY while a device is attached
 * to it.
 */
int p2pmr_ioas_destroy(struct p2pmr_iommufd *ictx, uint32_t ioas_id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = ioas_id };

	p2pmr_clear_error();
	if (!ioctl(ictx->fd, IOMMU_DESTROY, &cmd))
		return 0;
	switch (errno) {
	case ENOENT:
		return p2pmr_set_error(errno, "iommufd %d has no object %u to destroy", ictx->fd,
				       ioas_id);
	case EBUSY:
		return p2pmr_set_error(errno,
				       "IOAS %u is in use (a device is attached to it): close the device first",
				       ioas_id);
	default:
		return p2pmr_set_error(errno, "IOMMU_DESTROY of IOAS %u failed", ioas_id);
	}
}

/* Flags the library refuses before the kernel sees them: 0 or EINVAL. */
static int check_map_flags(const char *call, uint32_t flags, uint64_t length,
			   const uint64_t *iovap)
{
	if (!iovap)
		return p2pmr_set_error(EINVAL, "%s: iovap is NULL", call);
	if (flags & ~MAP_FLAGS)
		return p2pmr_set_error(EINVAL,
				       "%s: flags 0x%x are not P2PMR_IOAS_MAP_* (FIXED_IOVA 0x1, WRITEABLE 0x2, READABLE 0x4)",
				       call, flags & ~MAP_FLAGS);
	if (!(flags & (P2PMR_IOAS_MAP_READABLE | P2PMR_IOAS_MAP_WRITEABLE)))
		return p2pmr_set_error(EINVAL,
				       "%s: flags 0x%x allow neither P2PMR_IOAS_MAP_READABLE nor _WRITEABLE",
				       call, flags);
	if (!length)
		return p2pmr_set_error(EINVAL, "%s: length is 0", call);
	return 0;
}

/*
 * What the kernel's errno of IOMMU_IOAS_MAP or _MAP_FILE means for the
 * arguments: record the message and return @err. @what names the source
 * ("address 0x..." or "fd N offset 0x...").
 */
static int explain_map(int err, const char *cmd, const char *what, uint32_t ioas_id,
		       uint64_t length, uint32_t flags, uint64_t iova)
{
	char where[64] = "";

	if (flags & P2PMR_IOAS_MAP_FIXED_IOVA)
		snprintf(where, sizeof(where), " at IOVA 0x%" PRIx64, iova);
	switch (err) {
	case ENOENT:
		return p2pmr_set_error(err, "%s: IOAS %u does not exist in this iommufd", cmd,
				       ioas_id);
	case EEXIST:
		return p2pmr_set_error(err,
				       "%s: IOVA range [0x%" PRIx64 ", 0x%" PRIx64 ") is already mapped in IOAS %u",
				       cmd, iova, iova + length, ioas_id);
	case EINVAL:
		return p2pmr_set_error(err,
				       "%s of %s, 0x%" PRIx64 " bytes%s into IOAS %u: not aligned to the IOMMU page size, or outside the usable IOVA ranges",
				       cmd, what, length, where, ioas_id);
	case EFAULT:
		return p2pmr_set_error(err, "%s: %s, 0x%" PRIx64 " bytes, is not mapped in this process",
				       cmd, what, length);
	case ENOSPC:
		return p2pmr_set_error(err, "%s: IOAS %u has no free IOVA range of 0x%" PRIx64 " bytes",
				       cmd, ioas_id, length);
	case EOVERFLOW:
		return p2pmr_set_error(err, "%s: %s + 0x%" PRIx64 " bytes%s overflows", cmd, what,
				       length, where);
	case ENOMEM:
		return p2pmr_set_error(err,
				       "%s of 0x%" PRIx64 " bytes: out of memory, or over the locked-memory limit (ulimit -l)",
				       cmd, length);
	default:
		return p2pmr_set_error(err, "%s of %s, 0x%" PRIx64 " bytes%s into IOAS %u failed", cmd,
				       what, length, where, ioas_id);
	}
}

/**
 * p2pmr_ioas_map() - map host memory [@addr, @addr + @length) into an IOAS
 * @flags: P2PMR_IOAS_MAP_*; READABLE and/or WRITEABLE, FIXED_IOVA to map
 *         at *@iovap, else the kernel picks the IOVA
 * @iovap: the IOVA (in with FIXED_IOVA; out in every case)
 *
 * The pages are pinned until the range is unmapped.
 *
 * Return: 0, or EINVAL (flags, length 0, alignment), ENOENT (no such
 * IOAS), EEXIST (the IOVA range is in use), EFAULT (memory not mapped),
 * ENOSPC (no free IOVA range), ENOMEM (the locked-memory limit).
 */
int p2pmr_ioas_map(struct p2pmr_iommufd *ictx, uint32_t ioas_id, void *addr,
		   uint64_t length, uint32_t flags, uint64_t *iovap)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)addr,
		.length = length,
	};
	char what[48];
	int ret;

	p2pmr_clear_error();
	ret = check_map_flags("p2pmr_ioas_map", flags, length, iovap);
	if (ret)
		return ret;
	if (flags & P2PMR_IOAS_MAP_FIXED_IOVA)
		cmd.iova = *iovap;
	if (ioctl(ictx->fd, IOMMU_IOAS_MAP, &cmd)) {
		snprintf(what, sizeof(what), "address %p", addr);
		return explain_map(errno, "IOMMU_IOAS_MAP", what, ioas_id, length, flags,
				   cmd.iova);
	}
	*iovap = cmd.iova;
	return 0;
}

/**
 * p2pmr_ioas_map_file() - map bytes [@start, @start + @length) of a file
 * into an IOAS
 * @fd: a memfd, or a VFIO BAR dma-buf (p2pmr_dmabuf_export(), one range)
 * @flags, @iovap: as p2pmr_ioas_map()
 *
 * A dma-buf mapping lasts until the exporter revokes the buffer; the IOVA
 * range then reaches nothing and must be unmapped and mapped again once
 * the BAR is back.
 *
 * Return: 0, or ENOTTY when the kernel has no IOMMU_IOAS_MAP_FILE,
 * EOPNOTSUPP for a dma-buf it cannot map (not VFIO's, or of more than one
 * range), EINVAL for a file that is not a memfd or a range past its end,
 * EPERM for WRITEABLE on a memfd not open for writing, EACCES for WRITEABLE
 * on a dma-buf exported read-only (O_RDONLY), ENODEV for a revoked
 * dma-buf, EBADF for a closed fd, and the errnos of p2pmr_ioas_map().
 */
int p2pmr_ioas_map_file(struct p2pmr_iommufd *ictx, uint32_t ioas_id, int fd,
			uint64_t start, uint64_t length, uint32_t flags, uint64_t *iovap)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas_id,
		.fd = fd,
		.start = start,
		.length = length,
	};
	char what[64];
	int ret;

	p2pmr_clear_error();
	ret = check_map_flags("p2pmr_ioas_map_file", flags, length, iovap);
	if (ret)
		return ret;
	if (flags & P2PMR_IOAS_MAP_FIXED_IOVA)
		cmd.iova = *iovap;
	if (!ioctl(ictx->fd, IOMMU_IOAS_MAP_FILE, &cmd)) {
		*iovap = cmd.iova;
		return 0;
	}
	snprintf(what, sizeof(what), "fd %d offset 0x%" PRIx64, fd, start);
	switch (errno) {
	case ENOTTY:
		return p2pmr_set_error(errno,
				       "the kernel has no IOMMU_IOAS_MAP_FILE (Linux 6.13 maps memfds, 6.19 VFIO dma-bufs, the p2pmr kernel both)");
	case EBADF:
		return p2pmr_set_error(errno, "IOMMU_IOAS_MAP_FILE: fd %d is not open", fd);
	case EOPNOTSUPP:
		return p2pmr_set_error(errno,
				       "IOMMU_IOAS_MAP_FILE: fd %d is not a file the kernel can map (a memfd, or a VFIO dma-buf of one range)",
				       fd);
	case ENODEV:
		return p2pmr_set_error(errno,
				       "IOMMU_IOAS_MAP_FILE: the dma-buf of fd %d is revoked (memory decode off, reset, or its device closed)",
				       fd);
	case EPERM:
	case EACCES:
		return p2pmr_set_error(errno,
				       "IOMMU_IOAS_MAP_FILE: fd %d is not open for writing, so it cannot be mapped WRITEABLE",
				       fd);
	case EINVAL:
		return p2pmr_set_error(errno,
				       "IOMMU_IOAS_MAP_FILE of %s, 0x%" PRIx64 " bytes: not a memfd, past the end of the file or dma-buf, not aligned to the IOMMU page size, or outside the usable IOVA ranges",
				       what, length);
	default:
		return explain_map(errno, "IOMMU_IOAS_MAP_FILE", what, ioas_id, length, flags,
				   cmd.iova);
	}
}

/**
 * p2pmr_ioas_unmap() - unmap [@iova, @iova + @length) of an IOAS
 *
 * The range must cover whole mappings.
 *
 * Return: 0, or ENOENT when nothing is mapped there or the range cuts a
 * mapping, or no such IOAS; EINVAL for length 0.
 */
int p2pmr_ioas_unmap(struct p2pmr_iommufd *ictx, uint32_t ioas_id, uint64_t iova,
		     uint64_t length)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};

	p2pmr_clear_error();
	if (!length)
		return p2pmr_set_error(EINVAL, "p2pmr_ioas_unmap: length is 0");
	if (!ioctl(ictx->fd, IOMMU_IOAS_UNMAP, &cmd))
		return 0;
	if (errno == ENOENT)
		return p2pmr_set_error(errno,
				       "IOMMU_IOAS_UNMAP: IOAS %u has no mappings that [0x%" PRIx64 ", 0x%" PRIx64 ") covers whole (or no such IOAS)",
				       ioas_id, iova, iova + length);
	return p2pmr_set_error(errno,
			       "IOMMU_IOAS_UNMAP of [0x%" PRIx64 ", 0x%" PRIx64 ") in IOAS %u failed",
			       iova, iova + length, ioas_id);
}

/**
 * p2pmr_device_bind_iommufd() - open a PCI device by its VFIO cdev and
 * bind it to @ictx
 * @pci_addr: "0000:00:03.0" or "00:03.0", bound to vfio-pci
 * @devp: the device on success; attach it with p2pmr_device_attach_ioas()
 *        before it does DMA
 *
 * Return: 0, or EINVAL for a malformed address or a device bound already
 * (through another open of its cdev), ENODEV for no such device or one not
 * bound to vfio-pci, EOPNOTSUPP without a VFIO cdev, or
 * VFIO_DEVICE_BIND_IOMMUFD's errno.
 */
int p2pmr_device_bind_iommufd(const char *pci_addr, struct p2pmr_iommufd *ictx,
			      struct p2pmr_device **devp)
{
	struct p2pmr_device *dev;
	int ret;

	p2pmr_clear_error();
	ret = p2pmr_device_new(pci_addr, &dev);
	if (ret)
		return ret;
	dev->api = P2PMR_VFIO_API_CDEV;
	ret = p2pmr_cdev_open_bind(dev, ictx->fd);
	if (ret) {
		p2pmr_device_close(dev);
		return ret;
	}
	dev->ictx = ictx;
	atomic_fetch_add(&ictx->devices, 1);
	*devp = dev;
	return 0;
}

/**
 * p2pmr_device_attach_ioas() - attach a device bound with
 * p2pmr_device_bind_iommufd() to IOAS @ioas_id of its iommufd (or move it
 * there from the IOAS it is attached to)
 *
 * Return: 0, or EINVAL for a device that p2pmr_device_bind_iommufd() did
 * not open, ENOENT for no such IOAS, or VFIO_DEVICE_ATTACH_IOMMUFD_PT's
 * errno.
 */
int p2pmr_device_attach_ioas(struct p2pmr_device *dev, uint32_t ioas_id)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
		.pt_id = ioas_id,
	};

	p2pmr_clear_error();
	if (!dev->ictx)
		return p2pmr_set_error(EINVAL,
				       "%s was not opened by p2pmr_device_bind_iommufd(): it has no shared iommufd to attach in",
				       dev->pci_addr);
	if (!ioctl(dev->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return 0;
	if (errno == ENOENT)
		return p2pmr_set_error(errno, "attaching %s: IOAS %u does not exist in iommufd %d",
				       dev->pci_addr, ioas_id, dev->ictx->fd);
	return p2pmr_set_error(errno, "attaching %s to IOAS %u (VFIO_DEVICE_ATTACH_IOMMUFD_PT) failed",
			       dev->pci_addr, ioas_id);
}
