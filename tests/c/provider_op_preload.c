// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * provider_op.c as a library to LD_PRELOAD into a program that is not a
 * test, such as p2pmr hw-check: the tests/suites/hw-check guest suite runs
 * the command's provider-path check on rxe of rdma-core 44, whose provider
 * lacks ibv_reg_dmabuf_mr (providers/0001 adds it). The op is on from the
 * start: the preloaded ibv_reg_dmabuf_mr() binds before libibverbs' one.
 */
#include "provider_op.h"

__attribute__((constructor)) static void provider_op_preload(void)
{
	provider_op_on = true;
}
