/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The RDMA device options, named as perftest names them, so that the p2pmr
 * tool and the C tests take the same ones:
 *   -d, --ib-dev NAME     the RDMA device
 *   -i, --ib-port N       its port, 1 to 255
 *   -x, --gid-index N     the GID index, 0 to 255
 * A program puts the entries it takes into its getopt_long() table and
 * hands every option to rdma_opt() first.
 */
#ifndef P2PMR_TOOL_RDMA_OPTS_H
#define P2PMR_TOOL_RDMA_OPTS_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

struct rdma_opts {
	const char *ib_dev;	/* NULL: the first device */
	uint8_t ib_port;
	int gid_index;
};

#define RDMA_OPT_IB_DEV		{ "ib-dev", required_argument, NULL, 'd' }
#define RDMA_OPT_IB_PORT	{ "ib-port", required_argument, NULL, 'i' }
#define RDMA_OPT_GID_INDEX	{ "gid-index", required_argument, NULL, 'x' }
/* Their short forms, for getopt_long()'s optstring. */
#define RDMA_OPTS_SHORT		"d:i:x:"

/* Port 1, GID index 0, @ib_dev (NULL: the first device). */
void rdma_opts_init(struct rdma_opts *o, const char *ib_dev);
/*
 * If getopt's @c is one of the options above, take @arg into @o. Returns 0
 * when taken, EINVAL for a bad value (said on stderr after "@prog: "),
 * ENOENT when @c is not one of them.
 */
int rdma_opt(struct rdma_opts *o, int c, const char *arg, const char *prog);
/* The lines of --help for the three options. */
void rdma_opts_usage(FILE *out, const struct rdma_opts *defaults);

#endif /* P2PMR_TOOL_RDMA_OPTS_H */
