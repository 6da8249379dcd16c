/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Shared by the C test programs: how a failed check is reported.
 *
 * libp2pmr's calls return 0 or a positive errno value, with the message in
 * p2pmr_last_error() (p2pmr.h): check them with CHECK_LIB. The tests' own
 * helpers return 0 or a negative errno value (the fuzzer and the loop
 * helpers give positive values other meanings): CHECK_OK and CHECK_ERR.
 */
#ifndef P2PMR_TEST_CHECK_H
#define P2PMR_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "p2pmr.h"

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

/* In a function returning int: fail unless the libp2pmr call @expr returns 0. */
#define CHECK_LIB(expr)								\
	do {									\
		if (expr)							\
			return fail("%s:%d: %s failed: %s", __FILE__, __LINE__,	\
				    #expr, p2pmr_last_error());			\
	} while (0)

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
