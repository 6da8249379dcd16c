/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The provider side of ibv_reg_dmabuf_mr() that rxe lacks in rdma-core 44,
 * supplied by a test program so that libp2pmr's provider path runs in the
 * guest. The program defines ibv_reg_dmabuf_mr() (provider_op.c); the
 * dynamic linker binds libp2pmr's call to it before libibverbs'.
 *
 * While provider_op_on is false it hands every call to libibverbs (where
 * rxe fails with EOPNOTSUPP); while true, a provider without the op gets
 * one that does what providers/0001 does inside rxe: the kernel registers
 * the MR, into a verbs_mr that ibv_dereg_mr() and rxe's dereg_mr (the
 * kernel's MR_DESTROY, then free()) release as one of their own.
 */
#ifndef P2PMR_TEST_PROVIDER_OP_H
#define P2PMR_TEST_PROVIDER_OP_H

#include <stdbool.h>

extern bool provider_op_on;

/* What became of the last call; the program resets it to NOT_CALLED. */
enum provider_op_result {
	PROVIDER_NOT_CALLED,
	PROVIDER_MADE,		/* libibverbs' provider registered it */
	PROVIDER_LACKS_OP,	/* EOPNOTSUPP from libibverbs, the op off */
	PROVIDER_OP_MADE,	/* the op here registered it */
	PROVIDER_FAILED,	/* any other failure */
};
extern enum provider_op_result provider_op_result;

#endif /* P2PMR_TEST_PROVIDER_OP_H */
