/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* p2pmr bench: RDMA into a BAR dma-buf MR against host memory. */
#ifndef P2PMR_TOOL_BENCH_H
#define P2PMR_TOOL_BENCH_H

int bench_main(int argc, char **argv);
void bench_usage(FILE *out);

#endif /* P2PMR_TOOL_BENCH_H */
