/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Internal helpers of libp2pmr; not installed. */
#ifndef P2PMR_PRIVATE_H
#define P2PMR_PRIVATE_H

#include <stddef.h>

/*
 * Record why a call failed for p2pmr_last_error() and return -err, so a
 * failure path reads: return p2pmr_fail(ENODEV, "no PCI device %s", addr);
 */
int p2pmr_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void p2pmr_clear_error(void);

/* Read a whole sysfs attribute (small) into buf, NUL-terminated, no '\n'. */
int p2pmr_sysfs_read(const char *path, char *buf, size_t len);

#endif /* P2PMR_PRIVATE_H */
