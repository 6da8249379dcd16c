/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* p2pmr hw-check: the checks for a real NIC and BAR, a verdict each. */
#ifndef P2PMR_TOOL_HW_CHECK_H
#define P2PMR_TOOL_HW_CHECK_H

#include <stdio.h>

int hw_check_main(int argc, char **argv);
void hw_check_usage(FILE *out);

#endif /* P2PMR_TOOL_HW_CHECK_H */
