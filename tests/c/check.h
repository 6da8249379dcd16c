/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Shared by the C test programs: how a failed check is reported. */
#ifndef P2PMR_TEST_CHECK_H
#define P2PMR_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Print what was expected and what came, on one line; return 1 (failed). */
static inline __attribute__((format(printf, 1, 2))) int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* In a function returning int: fail unless @expr (0 or -errno) is 0. */
#define CHECK_OK(expr)								\
	do {									\
		int __r = (expr);						\
		if (__r)							\
			return fail("%s:%d: %s failed: %s", __FILE__, __LINE__,	\
				    #expr, strerror(-__r));			\
	} while (0)

/* In a function returning int: fail unless @expr is -@want. */
#define CHECK_ERR(expr, want)							\
	do {									\
		int __r = (expr);						\
		if (__r != -(want))						\
			return fail("%s:%d: %s: expected %s, got %s", __FILE__,	\
				    __LINE__, #expr, strerror(want),		\
				    __r ? strerror(-__r) : "success");		\
	} while (0)

#endif /* P2PMR_TEST_CHECK_H */
