/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Layouts of BAR ranges that Linux v6.19 accepts in one dma-buf (scattered,
 * overlapping, repeated), and what a page-by-page check of them needs.
 */
#ifndef P2PMR_TEST_RANGES_H
#define P2PMR_TEST_RANGES_H

#include <stdint.h>

#include "p2pmr.h"

#define RANGES_MIXED 5

/* Pages at @base, out of order, one overlapping another and one repeated. */
static inline void ranges_mixed(struct p2pmr_range r[RANGES_MIXED], uint64_t base,
				uint64_t page)
{
	static const unsigned int pages[RANGES_MIXED] = { 8, 2, 3, 3, 8 };
	unsigned int i;

	for (i = 0; i < RANGES_MIXED; i++)
		r[i] = (struct p2pmr_range){ base + pages[i] * page, page };
}

/* @n one-page ranges scattered (and, beyond 64, repeated) over 64 pages at @base. */
static inline void ranges_scattered_pages(struct p2pmr_range *r, unsigned int n, uint64_t base,
					  uint64_t page)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		r[i] = (struct p2pmr_range){ base + (i * 37 % 64) * page, page };
}

/* The window [*lo, *hi) of the BAR that @n ranges lie in. */
static inline void ranges_window(const struct p2pmr_range *r, unsigned int n, uint64_t *lo,
				 uint64_t *hi)
{
	unsigned int i;

	*lo = UINT64_MAX;
	*hi = 0;
	for (i = 0; i < n; i++) {
		if (r[i].offset < *lo)
			*lo = r[i].offset;
		if (r[i].offset + r[i].length > *hi)
			*hi = r[i].offset + r[i].length;
	}
}

/* The last of @n ranges that starts where range @i does: whose bytes the BAR keeps. */
static inline unsigned int ranges_last_alias(const struct p2pmr_range *r, unsigned int n,
					     unsigned int i)
{
	unsigned int j = n - 1;

	while (r[j].offset != r[i].offset)
		j--;
	return j;
}

#endif /* P2PMR_TEST_RANGES_H */
