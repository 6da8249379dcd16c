/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The case tables of the C test programs: each program has an array of
 * { name, desc, fn, ... } entries, lists them for the suites with --list
 * and runs the one named on its command line.
 */
#ifndef P2PMR_TEST_CASES_H
#define P2PMR_TEST_CASES_H

#include <stdio.h>
#include <string.h>

#define CASES_COUNT(cases) (sizeof(cases) / sizeof((cases)[0]))

/* "name<TAB>description" per case, what tests/suites read. */
#define CASES_PRINT(cases)							\
	do {									\
		for (size_t __i = 0; __i < CASES_COUNT(cases); __i++)		\
			printf("%s\t%s\n", (cases)[__i].name, (cases)[__i].desc);\
	} while (0)

/*
 * The case called @name, or NULL; the name must be the first member of
 * the entries.
 */
static inline const void *cases_find(const void *cases, size_t n, size_t size,
				     const char *name)
{
	for (size_t i = 0; name && i < n; i++) {
		const void *tc = (const char *)cases + i * size;

		if (!strcmp(*(const char *const *)tc, name))
			return tc;
	}
	return NULL;
}

#define CASES_FIND(cases, name) cases_find(cases, CASES_COUNT(cases), sizeof((cases)[0]), name)

#endif /* P2PMR_TEST_CASES_H */
