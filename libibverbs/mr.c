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
