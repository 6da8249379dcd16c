/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Deterministic test data: word i of a pattern depends on the seed and i. */
#ifndef P2PMR_TEST_PATTERN_H
#define P2PMR_TEST_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64 of seed + index: every word differs, every seed differs. */
static inline uint64_t pattern_word(uint64_t seed, uint64_t index)
{
	uint64_t z = seed + (index + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Fill @len bytes (a multiple of 8) with the pattern of @seed. */
static inline void pattern_fill(uint64_t *w, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pattern_word(seed, i);
}

#endif /* P2PMR_TEST_PATTERN_H */
