// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Why a dma-buf MR was refused. The kernel answers a bad registration
 * with a bare EINVAL (or EOPNOTSUPP, EACCES, ...); this file works out
 * which argument it was, from the dma-buf's size and the access flags,
 * so that the message can name it. Both registration paths (mr.c, the
 * provider; uverbs_mr.c, the kernel method) use it.
 */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "p2pmr.h"
#include "p2pmr_private.h"

/* Which access bit combination the kernel refuses, if any. */
int p2pmr_check_dmabuf_mr_access(int access)
{
	int allowed = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		      IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC |
		      P2PMR_ACCESS_FLUSH_GLOBAL | P2PMR_ACCESS_FLUSH_PERSISTENT |
		      IBV_ACCESS_OPTIONAL_RANGE;

	if (access & ~allowed)
		return p2pmr_set_error(EINVAL,
				       "access flags 0x%x are not allowed for dma-buf MRs (allowed: local write, remote read, write, atomic, flush, relaxed ordering)",
				       access & ~allowed);
	if ((access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) &&
	    !(access & IBV_ACCESS_LOCAL_WRITE))
		return p2pmr_set_error(EINVAL,
				       "remote write or atomic access needs IBV_ACCESS_LOCAL_WRITE too");
	return 0;
}

/* Which of fd, offset, length, iova the kernel refuses, if any. */
static int explain_range(uint64_t offset, uint64_t length, uint64_t iova, int fd)
{
	uint64_t page = sysconf(_SC_PAGESIZE), size;
	int ret;

	ret = p2pmr_dmabuf_size(fd, &size);
	if (ret)
		return ret;
	if (!length)
		return p2pmr_set_error(EINVAL, "length 0: an MR needs at least one byte");
	if (offset > size || length > size - offset)
		return p2pmr_set_error(EINVAL,
				       "offset/length outside the dma-buf (offset 0x%" PRIx64 ", length 0x%"
				       PRIx64 ", dma-buf fd %d has 0x%" PRIx64 " bytes)",
				       offset, length, fd, size);
	if ((offset ^ iova) & (page - 1))
		return p2pmr_set_error(EINVAL,
				       "offset 0x%" PRIx64 " and iova 0x%" PRIx64 " must lie at the same place in a page",
				       offset, iova);
	if (iova + length < iova)
		return p2pmr_set_error(EINVAL,
				       "iova 0x%" PRIx64 " + length 0x%" PRIx64 " wraps around the address space",
				       iova, length);
	return 0;
}

int p2pmr_explain_dmabuf_mr(int err, uint64_t offset, uint64_t length, uint64_t iova,
			    int fd, int access)
{
	int ret;

	switch (err) {
	case EOPNOTSUPP:
		if (access & P2PMR_ACCESS_FLUSH_PERSISTENT)
			return p2pmr_set_error(err,
					       "persistent flush access: the driver cannot make this dma-buf persistent (not persistent memory)");
		return p2pmr_set_error(err,
				       "the kernel's RDMA driver cannot register this dma-buf: it lacks dma-buf MRs "
				       "(kernel without rxe dma-buf support?) or cannot reach this buffer (a VFIO "
				       "dma-buf of ranges not contiguous in the BAR has no CPU mapping for rxe)");
	case EPROTONOSUPPORT:
		return p2pmr_set_error(err,
				       "the kernel has no dma-buf MRs at all (UVERBS_METHOD_REG_DMABUF_MR needs Linux 5.12 or later)");
	case EACCES:
		return p2pmr_set_error(err,
				       "write access (local write, remote write or atomic) to a dma-buf not open for writing: export it read-write, or register it for remote read only");
	case ENODEV:
		return p2pmr_set_error(err,
				       "the dma-buf is revoked or its device is gone (memory decode off, reset, or the VFIO device closed?)");
	case EBADF:
	case EINVAL:
		/* Which argument it was; the errno stays the kernel's. */
		ret = explain_range(offset, length, iova, fd);
		if (!ret)
			ret = p2pmr_check_dmabuf_mr_access(access);
		if (ret == err)
			return ret;
		if (ret)
			return p2pmr_set_error(err,
					       "the kernel refused the dma-buf MR, and fd %d has changed since (closed or replaced by another thread?)",
					       fd);
		return p2pmr_set_error(err, "the kernel refused the dma-buf MR (PD handle wrong or PD of another context?)");
	case ENOENT:
		return p2pmr_set_error(err, "no such PD handle in this verbs context");
	default:
		return p2pmr_set_error(err, "registering the dma-buf MR failed");
	}
}
