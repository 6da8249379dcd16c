// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* The RDMA device options of the p2pmr tool and the C tests (rdma_opts.h). */
#include <errno.h>
#include <stdlib.h>

#include "rdma_opts.h"

void rdma_opts_init(struct rdma_opts *o, const char *ib_dev)
{
	*o = (struct rdma_opts){ .ib_dev = ib_dev, .ib_port = 1, .gid_index = 0 };
}

/* A decimal (or 0x hex) number from @min to @max, nothing after it. */
static int number(const char *arg, unsigned long min, unsigned long max, unsigned long *v)
{
	char *end;

	if (*arg < '0' || *arg > '9')
		return EINVAL;
	errno = 0;
	*v = strtoul(arg, &end, 0);
	if (errno || *end || *v < min || *v > max)
		return EINVAL;
	return 0;
}

int rdma_opt(struct rdma_opts *o, int c, const char *arg, const char *prog)
{
	unsigned long v;

	switch (c) {
	case 'd':
		o->ib_dev = arg;
		return 0;
	case 'i':
		if (number(arg, 1, 255, &v))
			break;
		o->ib_port = v;
		return 0;
	case 'x':
		if (number(arg, 0, 255, &v))
			break;
		o->gid_index = v;
		return 0;
	default:
		return ENOENT;
	}
	fprintf(stderr, "%s: bad %s '%s' (%s)\n", prog,
		c == 'i' ? "--ib-port" : "--gid-index", arg,
		c == 'i' ? "a port from 1 to 255" : "a GID index from 0 to 255");
	return EINVAL;
}

void rdma_opts_usage(FILE *out, const struct rdma_opts *defaults)
{
	fprintf(out,
		"  -d, --ib-dev NAME      RDMA device (default: %s)\n"
		"  -i, --ib-port N        its port (default %u)\n"
		"  -x, --gid-index N      GID used to reach the port (default %d)\n",
		defaults->ib_dev ? defaults->ib_dev : "the first one", defaults->ib_port,
		defaults->gid_index);
}
