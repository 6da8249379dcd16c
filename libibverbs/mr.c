// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Memory regions over dma-bufs: struct p2pmr_mr.
 *
 * ibv_reg_dmabuf_mr() first. When the provider has no such op (EOPNOTSUPP
 * without a syscall, as rxe in rdma-core 44), the kernel's REG_DMABUF_MR
 * method is called directly on the context's command fd (uverbs_mr.c).
 * Either way the caller gets a p2pmr_mr made here, never an ibv_mr that
 * libibverbs did not make: such an MR would reach the provider's dereg
 * through ibv_dereg_mr(), which frees memory the provider never allocated.
 * The provider's ibv_mr, when there is one, belongs to the p2pmr_mr and
 * goes with it in p2pmr_dereg_mr().
 *
 * P2PMR_FORCE_UVERBS=1 in the environment skips the provider, so that both
 * paths can be tested with one provider.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "p2pmr.h"
#include "p2pmr_private.h"

struct mr_obj {
	struct p2pmr_mr mr;	/* what the caller holds */
	struct ibv_mr *ibv_mr;	/* the provider's, or NULL: the kernel method's */
};

static struct mr_obj *to_obj(const struct p2pmr_mr *mr)
{
	return (struct mr_obj *)((char *)mr - offsetof(struct mr_obj, mr));
}

static bool force_uverbs(void)
{
	const char *force = getenv("P2PMR_FORCE_UVERBS");

	return force && *force && strcmp(force, "0");
}

/*
 * The provider's ibv_reg_dmabuf_mr(): 0, EOPNOTSUPP (the provider has no
 * such op, or says so for the kernel: try the kernel method), or the
 * errno of the refusal with the message.
 */
static int reg_provider(struct mr_obj *obj, uint64_t offset, int fd, int access)
{
	struct p2pmr_mr *mr = &obj->mr;
	int err;

	obj->ibv_mr = ibv_reg_dmabuf_mr(mr->pd, offset, mr->length, mr->iova, fd, access);
	if (!obj->ibv_mr) {
		err = errno;
		return err == EOPNOTSUPP ? err :
		       p2pmr_explain_dmabuf_mr(err, offset, mr->length, mr->iova, fd, access);
	}
	mr->handle = obj->ibv_mr->handle;
	mr->lkey = obj->ibv_mr->lkey;
	mr->rkey = obj->ibv_mr->rkey;
	return 0;
}

/* The kernel's method on the command fd (the uverbs fallback). */
static int reg_uverbs(struct mr_obj *obj, uint64_t offset, int fd, int access,
		      bool provider_tried)
{
	struct p2pmr_mr *mr = &obj->mr;
	struct p2pmr_mr_keys keys;
	int ret;

	ret = p2pmr_uverbs_reg_dmabuf_mr(mr->pd->context->cmd_fd, mr->pd->handle, offset,
					 mr->length, mr->iova, fd, access, &keys);
	if (ret == EOPNOTSUPP && provider_tried && !(access & P2PMR_ACCESS_FLUSH_PERSISTENT))
		return p2pmr_set_error(EOPNOTSUPP,
				       "the provider has no dma-buf MRs and the kernel refused this one: no "
				       "dma-buf MRs in the kernel's driver (kernel without rxe dma-buf "
				       "support?), or a buffer it cannot reach (VFIO ranges not contiguous "
				       "in the BAR, for rxe)");
	if (ret)
		return ret;
	mr->handle = keys.handle;
	mr->lkey = keys.lkey;
	mr->rkey = keys.rkey;
	return 0;
}

/**
 * p2pmr_reg_dmabuf_mr() - register @length bytes of a dma-buf as an MR
 *
 * Return: the MR, or NULL with errno set and p2pmr_last_error() naming the
 * cause and the fix. Deregister it with p2pmr_dereg_mr().
 */
struct p2pmr_mr *p2pmr_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset, size_t length,
				     uint64_t iova, int fd, int access)
{
	bool provider_tried = false;
	struct mr_obj *obj;
	int ret = EOPNOTSUPP;

	p2pmr_clear_error();
	if (!pd)
		return p2pmr_set_error(EINVAL, "no PD"), NULL;
	/* Before registering: a registered MR must never lack its owner. */
	obj = calloc(1, sizeof(*obj));
	if (!obj)
		return p2pmr_set_error(ENOMEM, "out of memory"), NULL;
	obj->mr = (struct p2pmr_mr){ .pd = pd, .iova = iova, .length = length };
	if (!force_uverbs()) {
		ret = reg_provider(obj, offset, fd, access);
		provider_tried = true;
	}
	if (ret == EOPNOTSUPP)
		ret = reg_uverbs(obj, offset, fd, access, provider_tried);
	if (ret) {
		free(obj);
		errno = ret;
		return NULL;
	}
	return &obj->mr;
}

/**
 * p2pmr_dereg_mr() - deregister an MR of p2pmr_reg_dmabuf_mr(), and free it
 *
 * Return: 0, or an errno (as ibv_dereg_mr()); the MR stays valid on failure.
 */
int p2pmr_dereg_mr(struct p2pmr_mr *mr)
{
	struct mr_obj *obj;
	int ret;

	p2pmr_clear_error();
	if (!mr)
		return p2pmr_set_error(EINVAL, "no MR");
	obj = to_obj(mr);
	if (obj->ibv_mr) {
		ret = ibv_dereg_mr(obj->ibv_mr);
		if (ret)
			return p2pmr_set_error(ret, "ibv_dereg_mr of MR handle %u failed",
					       mr->handle);
	} else {
		ret = p2pmr_uverbs_dereg_mr(mr->pd->context->cmd_fd, mr->handle);
		if (ret)
			return ret;
	}
	free(obj);
	return 0;
}

bool p2pmr_mr_is_fallback(const struct p2pmr_mr *mr)
{
	return !to_obj(mr)->ibv_mr;
}

struct ibv_mr *p2pmr_mr_ibv_mr(const struct p2pmr_mr *mr)
{
	return to_obj(mr)->ibv_mr;
}
