// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Host-side checks of libp2pmr's MR layer and of the p2pmr tool's size
 * parsing that need no RDMA or VFIO device: wrong arguments are refused
 * with the right errno and a message that names the problem.
 * Prints TAP; exit status 0 when every check held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "p2pmr.h"
#include "sizes.h"

static int checks, failures;

static void check(bool ok, const char *what, const char *detail)
{
	checks++;
	printf("%sok %d - %s\n", ok ? "" : "not ", checks, what);
	if (!ok) {
		failures++;
		printf("# got: %s\n", detail);
	}
}

/* ret must be err and the message must contain words. */
static void check_fail(int ret, int err, const char *words, const char *what)
{
	char detail[640];

	snprintf(detail, sizeof(detail), "ret %d, message '%s'", ret, p2pmr_last_error());
	check(ret == err && strstr(p2pmr_last_error(), words), what, detail);
}

static void check_mr_layer(void)
{
	struct p2pmr_mr_keys keys;
	uint64_t size;
	int null_fd, mem_fd;

	null_fd = open("/dev/null", O_RDWR);
	check_fail(p2pmr_uverbs_reg_dmabuf_mr(null_fd, 0, 0, 4096, 0, 0, 0, &keys), ENOTTY,
		   "not a verbs command fd", "a character device that is not uverbs is refused (ENOTTY)");
	check_fail(p2pmr_uverbs_dereg_mr(1000, 1), EBADF, "is not open",
		   "a closed command fd is refused (EBADF)");
	check_fail(p2pmr_uverbs_reg_dmabuf_mr(null_fd, 0, 0, 4096, 0, 0, 1 << 4, &keys), EINVAL,
		   "not allowed", "memory-window access is refused for dma-buf MRs (EINVAL)");
	close(null_fd);

	mem_fd = memfd_create("not-a-dmabuf", MFD_CLOEXEC);
	check_fail(p2pmr_dmabuf_size(mem_fd, &size), EINVAL, "not a dma-buf fd",
		   "a memfd is not a dma-buf (EINVAL, says so)");
	close(mem_fd);
	check_fail(p2pmr_dmabuf_size(-1, &size), EBADF, "not open", "fd -1 is not open (EBADF)");

	errno = 0;
	check(!p2pmr_reg_dmabuf_mr(NULL, 0, 4096, 0, 0, 0) && errno == EINVAL,
	      "registering without a PD fails with EINVAL", strerror(errno));
	check_fail(p2pmr_dereg_mr(NULL), EINVAL, "no MR", "deregistering NULL fails with EINVAL");
}

static void check_size(const char *text, int ret_want, uint64_t want)
{
	char what[128], detail[128];
	uint64_t v = 0;
	int ret = parse_size(text, &v);

	snprintf(what, sizeof(what), "size '%s' parses to %llu (ret %d)", text,
		 (unsigned long long)want, ret_want);
	snprintf(detail, sizeof(detail), "%llu (ret %d)", (unsigned long long)v, ret);
	check(ret == ret_want && (ret || v == want), what, detail);
}

static void check_sizes(void)
{
	struct size_list list;
	char detail[256] = "";
	unsigned int i;
	int ret;

	check_size("4096", 0, 4096);
	check_size("0x1000", 0, 4096);
	check_size("64K", 0, 64 << 10);
	check_size("16MiB", 0, 16 << 20);
	check_size("1g", 0, 1ull << 30);
	check_size("12Q", EINVAL, 0);
	check_size("-1", EINVAL, 0);
	check_size("", EINVAL, 0);

	ret = parse_size_list("64-1M,4K", &list);
	for (i = 0; i < list.nr; i++)
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%llu ",
			 (unsigned long long)list.size[i]);
	check(!ret && list.nr == 8 && list.size[0] == 64 && list.size[3] == 4096 &&
	      list.size[7] == 1 << 20,
	      "'64-1M,4K' is 64 256 1K 4K 16K 64K 256K 1M, sorted, once each", detail);
	check(parse_size_list("1M-64", &list) == EINVAL, "a range from high to low is refused",
	      "accepted");
}

int main(void)
{
	check_mr_layer();
	check_sizes();
	printf("1..%d\n", checks);
	return failures ? 1 : 0;
}
