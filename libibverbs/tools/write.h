/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* p2pmr write: RDMA WRITE of bytes from host memory into a BAR dma-buf MR. */
#ifndef P2PMR_TOOL_WRITE_H
#define P2PMR_TOOL_WRITE_H

#include <stdio.h>

int write_main(int argc, char **argv);
void write_usage(FILE *out);

#endif /* P2PMR_TOOL_WRITE_H */
