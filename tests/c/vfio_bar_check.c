// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * vfio-bar-check: prove that a BAR mapped through VFIO is the memory the
 * host sees in the BAR's backing file (ivshmem-plain backed by a host file).
 *
 *   vfio-bar-check compare [--api A] PCI_ADDR BAR FILE
 *       every byte of the BAR, read through the mmap, equals FILE
 *       (host writes are visible to the guest's userspace driver)
 *   vfio-bar-check write [--api A] PCI_ADDR BAR FILE OFFSET LENGTH SEED
 *       a pattern written at OFFSET through the mmap is what FILE holds
 *       there afterwards, and FILE is unchanged around it
 *   vfio-bar-check write-text [--api A] PCI_ADDR BAR OFFSET TEXT
 *       write TEXT and its NUL at OFFSET (the demo)
 *
 * A is auto, cdev or group. FILE is read with pread, through the guest's
 * uncached 9p share of the host's file. Exit status 0 when the check holds;
 * otherwise a message says what was expected and what came.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p2pmr.h"
#include "pattern.h"

#define GUARD 4096	/* bytes checked unchanged on each side of a write */

struct bar_map {
	struct p2pmr_device *dev;
	volatile uint64_t *words;
	size_t len;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: vfio-bar-check compare [--api A] PCI_ADDR BAR FILE\n"
		"       vfio-bar-check write [--api A] PCI_ADDR BAR FILE OFFSET LENGTH SEED\n"
		"       vfio-bar-check write-text [--api A] PCI_ADDR BAR OFFSET TEXT\n"
		"  A: auto (default), cdev or group\n");
	exit(2);
}

static uint64_t parse_u64(const char *what, const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || end == s) {
		fprintf(stderr, "vfio-bar-check: %s '%s' is not a number\n", what, s);
		exit(2);
	}
	return v;
}

static int map_bar(const char *addr, const char *bar_arg, enum p2pmr_vfio_api api,
		   struct bar_map *map)
{
	unsigned int bar = parse_u64("BAR", bar_arg);
	void *p;
	int ret;

	ret = p2pmr_device_open(addr, api, &map->dev);
	if (ret) {
		fprintf(stderr, "vfio-bar-check: %s\n", p2pmr_last_error());
		return ret;
	}
	ret = p2pmr_bar_mmap(map->dev, bar, &p, &map->len);
	if (ret) {
		fprintf(stderr, "vfio-bar-check: %s\n", p2pmr_last_error());
		p2pmr_device_close(map->dev);
		return ret;
	}
	map->words = p;
	printf("opened %s through the %s API; BAR %u: %zu bytes mapped\n",
	       p2pmr_device_pci_addr(map->dev), p2pmr_vfio_api_name(p2pmr_device_api(map->dev)),
	       bar, map->len);
	return 0;
}

static void unmap_bar(struct bar_map *map)
{
	p2pmr_bar_munmap((void *)map->words, map->len);
	p2pmr_device_close(map->dev);
}

static uint64_t *read_file(const char *path, uint64_t off, size_t len)
{
	uint64_t *buf = malloc(len);
	size_t done = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!buf || fd < 0) {
		fprintf(stderr, "vfio-bar-check: cannot read %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done, off + done);
		if (n <= 0) {
			fprintf(stderr, "vfio-bar-check: %s ends at %" PRIu64 " bytes\n", path,
				off + done);
			exit(1);
		}
		done += n;
	}
	close(fd);
	return buf;
}

/* Index of the first word that differs, or -1. */
static long first_mismatch(const uint64_t *a, const uint64_t *b, size_t words)
{
	size_t i;

	for (i = 0; i < words; i++)
		if (a[i] != b[i])
			return i;
	return -1;
}

static int cmd_compare(const char *addr, const char *bar, const char *file,
		       enum p2pmr_vfio_api api)
{
	struct bar_map map;
	uint64_t *seen, *want;
	size_t i, words;
	long bad;

	if (map_bar(addr, bar, api, &map))
		return 1;
	words = map.len / 8;
	seen = malloc(map.len);
	if (!seen)
		return 1;
	for (i = 0; i < words; i++)
		seen[i] = map.words[i];
	want = read_file(file, 0, map.len);
	bad = first_mismatch(seen, want, words);
	unmap_bar(&map);
	if (bad >= 0) {
		fprintf(stderr,
			"vfio-bar-check: BAR offset 0x%lx: the mmap shows 0x%016" PRIx64
			", the host file has 0x%016" PRIx64 "\n",
			bad * 8, seen[bad], want[bad]);
		return 1;
	}
	printf("all %zu bytes of the BAR equal %s\n", map.len, file);
	free(seen);
	free(want);
	return 0;
}

static int cmd_write(const char *addr, const char *bar, const char *file, uint64_t off,
		     uint64_t len, uint64_t seed, enum p2pmr_vfio_api api)
{
	uint64_t lo, hi, *before, *after, *want;
	struct bar_map map;
	size_t i, words;
	long bad;

	if (off % 8 || len % 8 || !len) {
		fprintf(stderr, "vfio-bar-check: OFFSET and LENGTH must be non-zero multiples of 8\n");
		return 2;
	}
	if (map_bar(addr, bar, api, &map))
		return 1;
	if (off > map.len || len > map.len - off) {
		fprintf(stderr, "vfio-bar-check: [0x%" PRIx64 ", +0x%" PRIx64
			") is outside the %zu-byte BAR\n", off, len, map.len);
		unmap_bar(&map);
		return 2;
	}
	/* Check the write changes exactly its range: keep guards around it. */
	lo = off >= GUARD ? off - GUARD : 0;
	hi = off + len + GUARD <= map.len ? off + len + GUARD : map.len;
	before = read_file(file, lo, hi - lo);

	for (i = 0; i < len / 8; i++)
		map.words[off / 8 + i] = pattern_word(seed, i);
	__sync_synchronize();
	unmap_bar(&map);

	want = before;
	for (i = 0; i < len / 8; i++)
		want[(off - lo) / 8 + i] = pattern_word(seed, i);
	after = read_file(file, lo, hi - lo);
	words = (hi - lo) / 8;
	bad = first_mismatch(after, want, words);
	if (bad >= 0) {
		fprintf(stderr,
			"vfio-bar-check: after writing %" PRIu64 " bytes at 0x%" PRIx64
			": the host file at 0x%" PRIx64 " has 0x%016" PRIx64
			", expected 0x%016" PRIx64 " (%s)\n",
			len, off, lo + bad * 8, after[bad], want[bad],
			lo + bad * 8 >= off && lo + bad * 8 < off + len ?
				"pattern not written" : "bytes outside the range changed");
		return 1;
	}
	printf("host file shows the %" PRIu64 "-byte pattern at 0x%" PRIx64
	       " and nothing else changed\n", len, off);
	free(before);
	free(after);
	return 0;
}

static int cmd_write_text(const char *addr, const char *bar, uint64_t off, const char *text,
			  enum p2pmr_vfio_api api)
{
	volatile uint8_t *bytes;
	struct bar_map map;
	size_t i, n = strlen(text) + 1;

	if (map_bar(addr, bar, api, &map))
		return 1;
	if (off > map.len || n > map.len - off) {
		fprintf(stderr, "vfio-bar-check: text does not fit in the BAR at 0x%" PRIx64 "\n",
			off);
		unmap_bar(&map);
		return 2;
	}
	bytes = (volatile uint8_t *)map.words + off;
	for (i = 0; i < n; i++)
		bytes[i] = text[i];
	__sync_synchronize();
	printf("wrote \"%s\" at BAR offset 0x%" PRIx64 "\n", text, off);
	unmap_bar(&map);
	return 0;
}

int main(int argc, char **argv)
{
	enum p2pmr_vfio_api api = P2PMR_VFIO_API_AUTO;
	const char *cmd;
	char **arg;
	int nargs;

	if (argc < 2)
		usage();
	cmd = argv[1];
	arg = argv + 2;
	nargs = argc - 2;
	if (nargs >= 2 && !strcmp(arg[0], "--api")) {
		if (!strcmp(arg[1], "cdev"))
			api = P2PMR_VFIO_API_CDEV;
		else if (!strcmp(arg[1], "group"))
			api = P2PMR_VFIO_API_GROUP;
		else if (strcmp(arg[1], "auto"))
			usage();
		arg += 2;
		nargs -= 2;
	}
	if (!strcmp(cmd, "compare") && nargs == 3)
		return cmd_compare(arg[0], arg[1], arg[2], api);
	if (!strcmp(cmd, "write") && nargs == 6)
		return cmd_write(arg[0], arg[1], arg[2], parse_u64("OFFSET", arg[3]),
				 parse_u64("LENGTH", arg[4]), parse_u64("SEED", arg[5]), api);
	if (!strcmp(cmd, "write-text") && nargs == 4)
		return cmd_write_text(arg[0], arg[1], parse_u64("OFFSET", arg[2]), arg[3], api);
	usage();
	return 2;
}
