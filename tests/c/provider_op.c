// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * ibv_reg_dmabuf_mr() for providers that lack it (provider_op.h).
 *
 * The layout of libibverbs' struct verbs_mr (rdma-core libibverbs/driver.h,
 * private to providers; rdma-core 44 as Debian 12 has it): ibv_dereg_mr()
 * reads mr_type and access after the ibv_mr, and the provider frees it.
 */
#define _GNU_SOURCE	/* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>

#include <infiniband/verbs.h>

#include "p2pmr.h"
#include "provider_op.h"

struct provider_mr {
	struct ibv_mr ibv_mr;
	int mr_type;		/* enum ibv_mr_type */
	int access;
};

#define MR_TYPE_DMABUF 3	/* IBV_MR_TYPE_DMABUF_MR */

bool provider_op_on;
enum provider_op_result provider_op_result;

typedef struct ibv_mr *(*reg_dmabuf_mr_fn)(struct ibv_pd *pd, uint64_t offset, size_t length,
					   uint64_t iova, int fd, int access);

/* What providers/0001 does in rxe: the kernel's MR in a verbs_mr. */
static struct ibv_mr *reg(struct ibv_pd *pd, uint64_t offset, size_t length, uint64_t iova,
			  int fd, int access)
{
	struct p2pmr_mr_keys keys;
	struct provider_mr *vmr;
	int ret;

	vmr = calloc(1, sizeof(*vmr));
	if (!vmr) {
		errno = ENOMEM;
		return NULL;
	}
	ret = p2pmr_uverbs_reg_dmabuf_mr(pd->context->cmd_fd, pd->handle, offset, length,
					 iova, fd, access, &keys);
	if (ret) {
		free(vmr);
		errno = ret;
		return NULL;
	}
	/* With what libibverbs' ibv_reg_dmabuf_mr() fills in after the provider. */
	vmr->ibv_mr = (struct ibv_mr){
		.context = pd->context,
		.pd = pd,
		.addr = (void *)(uintptr_t)offset,
		.length = length,
		.handle = keys.handle,
		.lkey = keys.lkey,
		.rkey = keys.rkey,
	};
	vmr->mr_type = MR_TYPE_DMABUF;
	vmr->access = access;
	return &vmr->ibv_mr;
}

struct ibv_mr *ibv_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset, size_t length,
				 uint64_t iova, int fd, int access)
{
	reg_dmabuf_mr_fn next = (reg_dmabuf_mr_fn)dlsym(RTLD_NEXT, "ibv_reg_dmabuf_mr");
	struct ibv_mr *mr;

	provider_op_result = PROVIDER_FAILED;
	if (!next) {
		errno = ENOSYS;
		return NULL;
	}
	mr = next(pd, offset, length, iova, fd, access);
	if (mr)
		provider_op_result = PROVIDER_MADE;
	if (mr || errno != EOPNOTSUPP)
		return mr;
	if (!provider_op_on) {
		provider_op_result = PROVIDER_LACKS_OP;
		return NULL;	/* errno EOPNOTSUPP */
	}
	mr = reg(pd, offset, length, iova, fd, access);
	if (mr)
		provider_op_result = PROVIDER_OP_MADE;
	return mr;
}
