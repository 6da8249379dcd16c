/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * TAP for the host tests (tests/host/, run by ctest): one "ok N - what"
 * line per check, "# got: ..." under a failed one, the plan last.
 */
#ifndef P2PMR_HOST_TAP_H
#define P2PMR_HOST_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int tap_checks, tap_failures;

/* One check: @ok, described by @what; when it fails, @fmt says what came. */
static inline __attribute__((format(printf, 3, 4)))
bool tap_check(bool ok, const char *what, const char *fmt, ...)
{
	va_list ap;

	tap_checks++;
	printf("%sok %d - %s\n", ok ? "" : "not ", tap_checks, what);
	if (!ok) {
		tap_failures++;
		printf("# got: ");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
	return ok;
}

/* The plan; the exit status of main(). */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_checks);
	return tap_failures ? 1 : 0;
}

#endif /* P2PMR_HOST_TAP_H */
