// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * tool-test: the parsing the p2pmr tool shares with the C tests, on the
 * host: sizes and size lists (sizes.c), the RDMA device options
 * (rdma_opts.c). Prints TAP; exit status 0 when every check held.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rdma_opts.h"
#include "sizes.h"
#include "tap.h"

static void check_size(const char *text, int ret_want, uint64_t want)
{
	uint64_t v = 0;
	int ret = parse_size(text, &v);
	char what[128];

	snprintf(what, sizeof(what), "size '%s' is %llu (returns %d)", text,
		 (unsigned long long)want, ret_want);
	tap_check(ret == ret_want && (ret || v == want), what, "%llu (returns %d)",
		  (unsigned long long)v, ret);
}

static void check_sizes(void)
{
	struct size_list list;
	char got[256] = "", text[32];
	unsigned int i;
	int ret;

	check_size("4096", 0, 4096);
	check_size("0x1000", 0, 4096);
	check_size("64K", 0, 64 << 10);
	check_size("16MiB", 0, 16 << 20);
	check_size("1g", 0, 1ull << 30);
	check_size("2TB", 0, 2ull << 40);
	check_size("12Q", EINVAL, 0);
	check_size("4KiBs", EINVAL, 0);
	check_size("-1", EINVAL, 0);
	check_size("", EINVAL, 0);
	check_size("16777216T", EINVAL, 0);

	ret = parse_size_list("64-1M,4K", &list);
	for (i = 0; i < list.nr; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%llu ",
			 (unsigned long long)list.size[i]);
	tap_check(!ret && list.nr == 8 && list.size[0] == 64 && list.size[3] == 4096 &&
		  list.size[7] == 1 << 20 && size_list_max(&list) == 1 << 20,
		  "'64-1M,4K' is 64 256 1K 4K 16K 64K 256K 1M, sorted, once each", "%s", got);
	tap_check(parse_size_list("1M-64", &list) == EINVAL,
		  "a range from high to low is EINVAL", "accepted");
	tap_check(parse_size_list("1-16777215T", &list) == E2BIG,
		  "a range of more than 32 sizes is E2BIG", "%u sizes", list.nr);
	tap_check(!strcmp(format_size(1536 << 10, text, sizeof(text)), "1536K") &&
		  !strcmp(format_size(64, text, sizeof(text)), "64") &&
		  !strcmp(format_size(16 << 20, text, sizeof(text)), "16M"),
		  "sizes print in the largest unit that divides them", "%s", text);
}

static void check_rdma_opts(void)
{
	struct rdma_opts o;

	rdma_opts_init(&o, "rxe0");
	tap_check(!strcmp(o.ib_dev, "rxe0") && o.ib_port == 1 && o.gid_index == 0,
		  "the defaults: the named device, port 1, GID index 0", "%s %u %d", o.ib_dev,
		  o.ib_port, o.gid_index);
	tap_check(!rdma_opt(&o, 'd', "mlx5_0", "tool-test") &&
		  !rdma_opt(&o, 'i', "2", "tool-test") &&
		  !rdma_opt(&o, 'x', "0x3", "tool-test") &&
		  !strcmp(o.ib_dev, "mlx5_0") && o.ib_port == 2 && o.gid_index == 3,
		  "--ib-dev, --ib-port and --gid-index are taken", "%s %u %d", o.ib_dev,
		  o.ib_port, o.gid_index);
	tap_check(rdma_opt(&o, 'i', "0", "tool-test") == EINVAL &&
		  rdma_opt(&o, 'i', "256", "tool-test") == EINVAL && o.ib_port == 2,
		  "ports 0 and 256 are refused (EINVAL), the port stays", "%u", o.ib_port);
	tap_check(rdma_opt(&o, 'x', "-1", "tool-test") == EINVAL &&
		  rdma_opt(&o, 'x', "1x", "tool-test") == EINVAL &&
		  rdma_opt(&o, 'x', "", "tool-test") == EINVAL && o.gid_index == 3,
		  "GID index -1, '1x' and '' are refused (EINVAL)", "%d", o.gid_index);
	tap_check(rdma_opt(&o, 'b', "2", "tool-test") == ENOENT,
		  "another program's option is not taken (ENOENT)", "taken");
}

int main(void)
{
	check_sizes();
	check_rdma_opts();
	return tap_done();
}
