/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Shared by the C test programs: how a failed check is reported. */
#ifndef P2PMR_TEST_CHECK_H
#define P2PMR_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>

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

#endif /* P2PMR_TEST_CHECK_H */
