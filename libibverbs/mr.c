// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Memory regions over dma-bufs. ibv_reg_dmabuf_mr() first; when the
 * provider has no such op (EOPNOTSUPP without a syscall, as rxe in
 * rdma-core 44) the kernel's REG_DMABUF_MR method is called directly on
 * the context's command fd (uverbs_mr.c). Such a "fallback" MR is an ibv_mr
 * owned by this library, so p2pmr_dereg_mr() must know which MRs are ours:
 * it looks the pointer up in a list, never at the memory behind it.
 *
 * P2PMR_FORCE_UVERBS=1 in the environment skips the provider, so that both
 * paths can be tested with one provider.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "p2pmr.h"
#include "p2pmr_private.h"

struct fallback_mr {
	struct ibv_mr mr;		/* what the caller holds */
	struct fallback_mr *next;
};

/* Protects fallback_mrs, the list of every live fallback MR. */
static pthread_mutex_t fallback_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fallback_mr *fallback_mrs;

static void fallback_add(struct fallback_mr *fmr)
{
	pthread_mutex_lock(&fallback_lock);
	fmr->next = fallback_mrs;
	fallback_mrs = fmr;
	pthread_mutex_unlock(&fallback_lock);
}

/* Unlink and return the fallback MR whose ibv_mr is @mr, or NULL. */
static struct fallback_mr *fallback_take(const struct ibv_mr *mr)
{
	struct fallback_mr **link, *found = NULL;

	pthread_mutex_lock(&fallback_lock);
	for (link = &fallback_mrs; *link; link = &(*link)->next) {
		if (&(*link)->mr == mr) {
			found = *link;
			*link = found->next;
			break;
		}
	}
	pthread_mutex_unlock(&fallback_lock);
	return found;
}

bool p2pmr_mr_is_fallback(const struct ibv_mr *mr)
{
	struct fallback_mr *fmr;
	bool found = false;

	pthread_mutex_lock(&fallback_lock);
	for (fmr = fallback_mrs; fmr; fmr = fmr->next) {
		if (&fmr->mr == mr) {
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&fallback_lock);
	return found;
}

static bool force_uverbs(void)
{
	const char *force = getenv("P2PMR_FORCE_UVERBS");

	return force && *force && strcmp(force, "0");
}

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

/* NULL with errno set to @err, which p2pmr_set_error() returned. */
static struct ibv_mr *mr_failed(int err)
{
	errno = err;
	return NULL;
}

static struct ibv_mr *reg_fallback(struct ibv_pd *pd, uint64_t offset, size_t length,
				   uint64_t iova, int fd, int access, bool provider_tried)
{
	struct p2pmr_mr_keys keys;
	struct fallback_mr *fmr;
	int ret;

	fmr = calloc(1, sizeof(*fmr));
	if (!fmr)
		return mr_failed(p2pmr_set_error(ENOMEM, "out of memory"));
	ret = p2pmr_uverbs_reg_dmabuf_mr(pd->context->cmd_fd, pd->handle, offset, length,
					 iova, fd, access, &keys);
	if (ret) {
		free(fmr);
		if (ret == EOPNOTSUPP && provider_tried &&
		    !(access & P2PMR_ACCESS_FLUSH_PERSISTENT))
			p2pmr_set_error(EOPNOTSUPP,
					"the provider has no dma-buf MRs and the kernel refused this one: no "
					"dma-buf MRs in the kernel's driver (kernel without rxe dma-buf "
					"support?), or a buffer it cannot reach (VFIO ranges not contiguous "
					"in the BAR, for rxe)");
		return mr_failed(ret);
	}
	fmr->mr.context = pd->context;
	fmr->mr.pd = pd;
	fmr->mr.addr = (void *)(uintptr_t)iova;
	fmr->mr.length = length;
	fmr->mr.handle = keys.handle;
	fmr->mr.lkey = keys.lkey;
	fmr->mr.rkey = keys.rkey;
	fallback_add(fmr);
	return &fmr->mr;
}

/**
 * p2pmr_reg_dmabuf_mr() - register @length bytes of a dma-buf as an MR
 *
 * Return: the MR, or NULL with errno set and p2pmr_last_error() naming the
 * cause and the fix. Deregister it with p2pmr_dereg_mr().
 */
struct ibv_mr *p2pmr_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset, size_t length,
				   uint64_t iova, int fd, int access)
{
	bool provider_tried = false;
	struct ibv_mr *mr;

	p2pmr_clear_error();
	if (!pd)
		return mr_failed(p2pmr_set_error(EINVAL, "no PD"));
	if (!force_uverbs()) {
		mr = ibv_reg_dmabuf_mr(pd, offset, length, iova, fd, access);
		if (mr)
			return mr;
		if (errno != EOPNOTSUPP)
			return mr_failed(p2pmr_explain_dmabuf_mr(errno, offset, length, iova,
								 fd, access));
		provider_tried = true;
	}
	return reg_fallback(pd, offset, length, iova, fd, access, provider_tried);
}

/**
 * p2pmr_dereg_mr() - deregister an MR of p2pmr_reg_dmabuf_mr()
 *
 * Return: 0, or an errno (as ibv_dereg_mr()); the MR stays valid on failure.
 */
int p2pmr_dereg_mr(struct ibv_mr *mr)
{
	struct fallback_mr *fmr;
	int ret;

	p2pmr_clear_error();
	if (!mr)
		return p2pmr_set_error(EINVAL, "no MR");
	fmr = fallback_take(mr);
	if (!fmr) {
		ret = ibv_dereg_mr(mr);
		if (ret)
			return p2pmr_set_error(ret, "ibv_dereg_mr failed");
		return 0;
	}
	/* Unlinked meanwhile: deregistering one MR twice at once is a bug anyway. */
	ret = p2pmr_uverbs_dereg_mr(mr->context->cmd_fd, mr->handle);
	if (ret) {
		fallback_add(fmr);
		return ret;
	}
	free(fmr);
	return 0;
}
