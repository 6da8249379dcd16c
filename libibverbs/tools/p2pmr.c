// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr: the command-line face of libp2pmr.
 *   p2pmr list                       PCI devices bound to vfio-pci, their BARs
 *   p2pmr export PCI --bar N ...     export a BAR range as a dma-buf and hold it
 *   p2pmr bench PCI --bar N ...      RDMA to a BAR MR against host memory
 *   p2pmr write PCI --bar N ...      RDMA WRITE a text or a file into a BAR
 *   p2pmr dma-bench --nvme PCI ...   NVMe DMA into a BAR against host memory
 *   p2pmr doctor [PCI ...]           will RDMA into a BAR work here, and the fixes
 *   p2pmr hw-check PCI --bar N ...   the checks for real hardware, a verdict each
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p2pmr.h"
#include "bench.h"
#include "dma_bench.h"
#include "doctor.h"
#include "hw_check.h"
#include "sizes.h"
#include "write.h"

#define SYSFS_PCI "/sys/bus/pci/devices"

static void main_usage(FILE *out)
{
	fprintf(out,
		"usage: p2pmr COMMAND [options]\n"
		"  list                          PCI devices bound to vfio-pci and their BARs\n"
		"  export PCI --bar N [...]      export a range of a BAR as a dma-buf, hold it\n"
		"  bench [PCI] --bar N [...]     RDMA bandwidth, latency and registration time,\n"
		"                                BAR dma-buf MR against host memory\n"
		"  write PCI --bar N [...]       RDMA WRITE a text or a file into a BAR\n"
		"  dma-bench --nvme PCI --bar-pci PCI --bar N [...]\n"
		"                                NVMe DMA into a BAR (iommufd) against host memory\n"
		"  doctor [PCI ...] [...]        will RDMA into a BAR work on this machine?\n"
		"                                a verdict per check, and the fixes\n"
		"  hw-check PCI --bar N [...]    the checks for real hardware, a verdict each\n"
		"  help [COMMAND]                this text, or a command's options\n"
		"'p2pmr COMMAND --help' shows a command's options; see p2pmr(1).\n");
}

static void list_usage(FILE *out)
{
	fprintf(out, "usage: p2pmr list\n"
		     "  every PCI device bound to vfio-pci, with its BARs: index, size, memory\n"
		     "  or I/O, 64-bit, prefetchable, whether VFIO lets it be mmapped\n");
}

static void export_usage(FILE *out)
{
	fprintf(out,
		"usage: p2pmr export PCI --bar N [--offset O] [--length L] [--hold-seconds S]\n"
		"  export bytes [O, O+L) of BAR N (default: from O to the end) as a dma-buf,\n"
		"  print its fd and what /proc/self/fdinfo says of it, then hold it open\n"
		"  until Enter (or end of input), or for S seconds\n");
}

static bool driver_is_vfio(const char *addr)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), SYSFS_PCI "/%s/driver", addr);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return !strcmp(strrchr(link, '/') ? strrchr(link, '/') + 1 : link, "vfio-pci");
}

static void read_id(const char *addr, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), SYSFS_PCI "/%s/%s", addr, attr);
	f = fopen(path, "re");
	if (!f || !fgets(buf, len, f))
		snprintf(buf, len, "?");
	if (f)
		fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	if (!strncmp(buf, "0x", 2))
		memmove(buf, buf + 2, strlen(buf + 2) + 1);
}

static const char *yes_no(bool v)
{
	return v ? "yes" : "no";
}

static void list_bars(struct p2pmr_device *dev)
{
	struct p2pmr_bar_info info;
	unsigned int bar;
	char size[32];

	printf("  %-4s %10s  %-4s %-6s %-8s %s\n", "BAR", "size", "type", "64-bit", "prefetch",
	       "mmap");
	for (bar = 0; bar < P2PMR_MAX_BARS; bar++) {
		if (p2pmr_device_bar_info(dev, bar, &info) || !info.size)
			continue;
		printf("  %-4u %10s  %-4s %-6s %-8s %s\n", bar,
		       format_size(info.size, size, sizeof(size)), info.is_memory ? "mem" : "io",
		       yes_no(info.is_64bit), yes_no(info.is_prefetchable), yes_no(info.can_mmap));
	}
}

static void list_one(const char *addr)
{
	char vendor[16], device[16];
	struct p2pmr_device *dev;

	read_id(addr, "vendor", vendor, sizeof(vendor));
	read_id(addr, "device", device, sizeof(device));
	if (p2pmr_device_open(addr, P2PMR_VFIO_API_AUTO, &dev)) {
		printf("%s %s:%s vfio-pci: cannot open: %s\n", addr, vendor, device,
		       p2pmr_last_error());
		return;
	}
	printf("%s %s:%s vfio-pci (VFIO %s API)\n", addr, vendor, device,
	       p2pmr_vfio_api_name(p2pmr_device_api(dev)));
	list_bars(dev);
	p2pmr_device_close(dev);
}

static int name_compare(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int cmd_list(int argc, char **argv)
{
	struct dirent **names;
	int i, n, found = 0;

	if (argc > 1) {
		bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");

		list_usage(help ? stdout : stderr);
		return help ? 0 : 2;
	}
	n = scandir(SYSFS_PCI, &names, NULL, name_compare);
	if (n < 0) {
		fprintf(stderr, "p2pmr list: cannot read " SYSFS_PCI ": %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.' && driver_is_vfio(names[i]->d_name)) {
			list_one(names[i]->d_name);
			found++;
		}
		free(names[i]);
	}
	free(names);
	if (!found)
		fprintf(stderr,
			"p2pmr list: no PCI device is bound to vfio-pci (bind one: echo vfio-pci > "
			SYSFS_PCI "/<addr>/driver_override, then unbind its driver and echo <addr> > /sys/bus/pci/drivers_probe)\n");
	return 0;
}

struct export_opts {
	const char *pci;
	int bar;
	uint64_t offset;
	uint64_t length;		/* 0: to the end of the BAR */
	int hold_seconds;		/* -1: until Enter */
};

static int export_parse(struct export_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bar", required_argument, NULL, 'b' },
		{ "offset", required_argument, NULL, 'o' },
		{ "length", required_argument, NULL, 'l' },
		{ "hold-seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint64_t v;
	int c;

	*o = (struct export_opts){ .bar = -1, .hold_seconds = -1 };
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:o:l:s:h", opts, NULL)) != -1) {
		if (c == 'h') {
			export_usage(stdout);
			return 1;
		}
		if (c == '?' || parse_size(optarg, &v) ||
		    ((c == 'b' && v >= P2PMR_MAX_BARS) || (c == 's' && v > INT_MAX))) {
			if (c != '?')
				fprintf(stderr, "p2pmr export: bad value '%s'\n", optarg);
			export_usage(stderr);
			return 2;
		}
		if (c == 'b')
			o->bar = v;
		else if (c == 'o')
			o->offset = v;
		else if (c == 'l')
			o->length = v;
		else
			o->hold_seconds = v;
	}
	if (optind != argc - 1 || o->bar < 0) {
		export_usage(stderr);
		return 2;
	}
	o->pci = argv[optind];
	return 0;
}

static void print_fdinfo(int fd)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return;
	printf("%s:\n", path);
	while (fgets(line, sizeof(line), f))
		printf("  %s", line);
	fclose(f);
}

static void hold(int seconds)
{
	struct pollfd in = { .fd = STDIN_FILENO, .events = POLLIN };
	char line[64];

	if (seconds >= 0) {
		printf("holding it for %d s\n", seconds);
		fflush(stdout);
		sleep(seconds);
		return;
	}
	printf("holding it; press Enter to close\n");
	fflush(stdout);
	if (poll(&in, 1, -1) > 0 && fgets(line, sizeof(line), stdin))
		return;
}

/* Export, show and hold the range: 0, or an errno with p2pmr_last_error(). */
static int export_range(struct p2pmr_device *dev, const struct export_opts *o)
{
	struct p2pmr_bar_info info;
	struct p2pmr_range range;
	uint64_t size;
	int fd, ret;

	ret = p2pmr_device_bar_info(dev, o->bar, &info);
	if (ret)
		return ret;
	range.offset = o->offset;
	range.length = o->length;
	if (!range.length)
		range.length = o->offset < info.size ? info.size - o->offset : 0;
	ret = p2pmr_dmabuf_export(dev, o->bar, &range, 1, &fd);
	if (ret)
		return ret;
	ret = p2pmr_dmabuf_size(fd, &size);
	if (ret) {
		close(fd);
		return ret;
	}
	printf("exported BAR %d of %s, bytes [0x%" PRIx64 ", 0x%" PRIx64 "), as dma-buf fd %d of process %d: %" PRIu64 " bytes\n",
	       o->bar, o->pci, range.offset, range.offset + range.length, fd, (int)getpid(),
	       size);
	print_fdinfo(fd);
	hold(o->hold_seconds);
	close(fd);
	return 0;
}

static int cmd_export(int argc, char **argv)
{
	struct export_opts o;
	struct p2pmr_device *dev;
	int ret;

	ret = export_parse(&o, argc, argv);
	if (ret)
		return ret == 1 ? 0 : ret;
	if (p2pmr_device_open(o.pci, P2PMR_VFIO_API_AUTO, &dev)) {
		fprintf(stderr, "p2pmr export: %s\n", p2pmr_last_error());
		return 1;
	}
	ret = export_range(dev, &o);
	if (ret)
		fprintf(stderr, "p2pmr export: %s\n", p2pmr_last_error());
	p2pmr_device_close(dev);
	return ret ? 1 : 0;
}

static int cmd_help(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd)
		main_usage(stdout);
	else if (!strcmp(cmd, "list"))
		list_usage(stdout);
	else if (!strcmp(cmd, "export"))
		export_usage(stdout);
	else if (!strcmp(cmd, "bench"))
		bench_usage(stdout);
	else if (!strcmp(cmd, "write"))
		write_usage(stdout);
	else if (!strcmp(cmd, "dma-bench"))
		dma_bench_usage(stdout);
	else if (!strcmp(cmd, "doctor"))
		doctor_usage(stdout);
	else if (!strcmp(cmd, "hw-check"))
		hw_check_usage(stdout);
	else {
		fprintf(stderr, "p2pmr: no command '%s'\n", cmd);
		main_usage(stderr);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} commands[] = {
		{ "list", cmd_list },
		{ "export", cmd_export },
		{ "bench", bench_main },
		{ "write", write_main },
		{ "dma-bench", dma_bench_main },
		{ "doctor", doctor_main },
		{ "hw-check", hw_check_main },
		{ "help", cmd_help },
		{ "--help", cmd_help },
		{ "-h", cmd_help },
	};
	unsigned int i;

	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "p2pmr: no command '%s'\n", argv[1]);
	main_usage(stderr);
	return 2;
}
