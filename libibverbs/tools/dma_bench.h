/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* p2pmr dma-bench: NVMe DMA into a BAR against host memory, through iommufd. */
#ifndef P2PMR_TOOL_DMA_BENCH_H
#define P2PMR_TOOL_DMA_BENCH_H

#include <stdio.h>

int dma_bench_main(int argc, char **argv);
void dma_bench_usage(FILE *out);

#endif /* P2PMR_TOOL_DMA_BENCH_H */
