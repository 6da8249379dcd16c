// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Per-thread error messages: every failing call says why, and code built
 * on libp2pmr (the p2pmr tool, bindings) records its own failures in the
 * same place, so that one p2pmr_last_error() describes a whole call chain.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "p2pmr.h"
#include "p2pmr_private.h"

static __thread char last_error[512];

int p2pmr_set_error(int err, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	n = strlen(last_error);
	snprintf(last_error + n, sizeof(last_error) - n, " (%s)", strerror(err));
	errno = err;
	return err;
}

void p2pmr_clear_error(void)
{
	last_error[0] = '\0';
}

const char *p2pmr_last_error(void)
{
	return last_error;
}
