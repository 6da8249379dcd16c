/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Sizes on the command line: "4096", "0x1000", "4K", "16MiB", "64-1M", "4K,1M". */
#ifndef P2PMR_TOOL_SIZES_H
#define P2PMR_TOOL_SIZES_H

#include <stddef.h>
#include <stdint.h>

#define SIZE_LIST_MAX 32

struct size_list {
	uint64_t size[SIZE_LIST_MAX];
	unsigned int nr;
};

/*
 * One size: a number (decimal or 0x hex) with an optional K, M, G, T
 * suffix (powers of 1024, "K", "KB" or "KiB"). 0 or EINVAL.
 */
int parse_size(const char *text, uint64_t *sizep);
/*
 * Comma-separated items, each a size or a range "A-B": A, 4A, 16A, ... up
 * to B, and B itself. Sorted, without repeats. 0, EINVAL, E2BIG (more than
 * SIZE_LIST_MAX sizes) or ENOMEM.
 */
int parse_size_list(const char *text, struct size_list *list);
uint64_t size_list_max(const struct size_list *list);
/*
 * The number option @name of command @cmd ("p2pmr write"): parse_size()
 * syntax, from @min to @max. 0, or 2 (the exit status of a usage error)
 * after saying on stderr what was wrong.
 */
int size_opt(const char *cmd, const char *name, const char *arg, uint64_t min, uint64_t max,
	     uint64_t *v);
/* "64", "4K", "1536K", "16M": the largest unit that divides v. */
const char *format_size(uint64_t v, char *buf, size_t len);

#endif /* P2PMR_TOOL_SIZES_H */
