// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr doctor: reading /sys, /proc, /dev and /boot below the doctor's root
 * (doctor.h), and the PCI facts several checks share: the path of a
 * function up to its host bridge, its BARs.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor.h"

static int vpath(const struct doctor *d, char *buf, size_t len, const char *fmt, va_list ap)
{
	size_t n = snprintf(buf, len, "%s", d->root);

	if (n >= len || (size_t)vsnprintf(buf + n, len - n, fmt, ap) >= len - n)
		return ENAMETOOLONG;
	return 0;
}

/* The value of @expr, evaluated between va_start() and va_end(). */
#define WITH_VA(fmt, expr) ({			\
	va_list ap;				\
	int ret_;				\
						\
	va_start(ap, fmt);			\
	ret_ = (expr);				\
	va_end(ap);				\
	ret_;					\
})

/* The path of @fmt below the root, into @buf: 0 or ENAMETOOLONG. */
int ds_path(const struct doctor *d, char *buf, size_t len, const char *fmt, ...)
{
	return WITH_VA(fmt, vpath(d, buf, len, fmt, ap));
}

static int vread(const struct doctor *d, char *buf, size_t len, const char *fmt, va_list ap)
{
	char path[PATH_MAX];
	FILE *f;
	int ret;

	ret = vpath(d, path, sizeof(path), fmt, ap);
	if (ret)
		return ret;
	f = fopen(path, "re");
	if (!f)
		return errno;
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The first line of a file, without its newline: 0 or an errno. */
int ds_read(const struct doctor *d, char *buf, size_t len, const char *fmt, ...)
{
	return WITH_VA(fmt, vread(d, buf, len, fmt, ap));
}

/* A file holding a number (decimal or 0x hex): 0, an errno, or EINVAL. */
int ds_read_u64(const struct doctor *d, uint64_t *val, const char *fmt, ...)
{
	char line[64], *end;
	int ret;

	ret = WITH_VA(fmt, vread(d, line, sizeof(line), fmt, ap));
	if (ret)
		return ret;
	errno = 0;
	*val = strtoull(line, &end, 0);
	return errno || end == line ? EINVAL : 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * The entries of a directory (not those starting with '.') that @keep
 * accepts (NULL: all), at most @max (the first @max readdir() returns),
 * sorted: how many, 0 when it cannot be read.
 */
unsigned int ds_list(const struct doctor *d, char (*names)[DS_NAME], unsigned int max,
		     bool (*keep)(const char *name), const char *fmt, ...)
{
	char path[PATH_MAX];
	unsigned int n = 0;
	struct dirent *e;
	DIR *dir;

	if (WITH_VA(fmt, vpath(d, path, sizeof(path), fmt, ap)))
		return 0;
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((e = readdir(dir)) && n < max)
		if (e->d_name[0] != '.' && strlen(e->d_name) < DS_NAME && (!keep || keep(e->d_name)))
			memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
	closedir(dir);
	qsort(names, n, DS_NAME, name_cmp);
	return n;
}

/* The last component of where a symlink points ("vfio-pci" of driver). */
int ds_link_name(const struct doctor *d, char *buf, size_t len, const char *fmt, ...)
{
	char path[PATH_MAX], link[PATH_MAX], *base;
	ssize_t n;
	int ret;

	ret = WITH_VA(fmt, vpath(d, path, sizeof(path), fmt, ap));
	if (ret)
		return ret;
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return errno;
	link[n] = '\0';
	base = strrchr(link, '/');
	snprintf(buf, len, "%s", base ? base + 1 : link);
	return 0;
}

bool ds_exists(const struct doctor *d, const char *fmt, ...)
{
	char path[PATH_MAX];
	struct stat st;

	return !WITH_VA(fmt, vpath(d, path, sizeof(path), fmt, ap)) && !stat(path, &st);
}

/* DDDD:BB:SS.F, lower-case hex, as sysfs names PCI functions. */
bool ds_is_pci_addr(const char *s)
{
	static const char shape[] = "xxxx:xx:xx.x";
	unsigned int i;

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'x' ? !strchr("0123456789abcdef", s[i]) : s[i] != shape[i])
			return false;
	}
	return true;
}

bool ds_pci_exists(const struct doctor *d, const char *pci)
{
	return ds_is_pci_addr(pci) && ds_exists(d, "/sys/bus/pci/devices/%s", pci);
}

/*
 * /sys/bus/pci/devices/X links to /sys/devices/pci0000:00/<bridge>/.../X:
 * the components that are PCI addresses, from X upwards, are the path.
 */
int ds_pci_chain(const struct doctor *d, const char *pci, struct ds_pci_chain *chain)
{
	char path[PATH_MAX], real[PATH_MAX], *comp[64], *save, *tok;
	unsigned int n = 0, i;
	int ret;

	memset(chain, 0, sizeof(*chain));
	ret = ds_path(d, path, sizeof(path), "/sys/bus/pci/devices/%s", pci);
	if (ret)
		return ret;
	if (!realpath(path, real))
		return errno;
	for (tok = strtok_r(real, "/", &save); tok && n < 64; tok = strtok_r(NULL, "/", &save))
		comp[n++] = tok;
	for (i = n; i-- > 0;) {
		if (ds_is_pci_addr(comp[i])) {
			if (chain->len == DS_MAX_CHAIN)
				return E2BIG;
			snprintf(chain->dev[chain->len++], sizeof(chain->dev[0]), "%s", comp[i]);
		} else if (!strncmp(comp[i], "pci", 3) && chain->len) {
			snprintf(chain->host, sizeof(chain->host), "%s", comp[i]);
			break;
		} else if (chain->len) {
			break;
		}
	}
	return chain->len && chain->host[0] ? 0 : ENOENT;
}

/* include/linux/ioport.h, as sysfs "resource" shows the flags. */
#define IORESOURCE_IO		0x00000100
#define IORESOURCE_MEM		0x00000200
#define IORESOURCE_PREFETCH	0x00002000
#define IORESOURCE_MEM_64	0x00100000

/* BAR @bar of @pci from sysfs "resource": 0 (size 0: not implemented) or an errno. */
int ds_pci_bar(const struct doctor *d, const char *pci, unsigned int bar, struct ds_bar *out)
{
	uint64_t start, end, flags;
	char path[PATH_MAX], line[256];
	unsigned int i;
	FILE *f;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = ds_path(d, path, sizeof(path), "/sys/bus/pci/devices/%s/resource", pci);
	if (ret)
		return ret;
	f = fopen(path, "re");
	if (!f)
		return errno;
	for (i = 0; i <= bar; i++) {
		if (!fgets(line, sizeof(line), f)) {
			fclose(f);
			return EINVAL;
		}
	}
	fclose(f);
	if (sscanf(line, "%" SCNx64 " %" SCNx64 " %" SCNx64, &start, &end, &flags) != 3)
		return EINVAL;
	if (!(flags & (IORESOURCE_IO | IORESOURCE_MEM)) || end < start || (!start && !end))
		return 0;
	out->start = start;
	out->size = end - start + 1;
	out->is_io = flags & IORESOURCE_IO;
	out->is_memory = flags & IORESOURCE_MEM;
	out->is_prefetchable = flags & IORESOURCE_PREFETCH;
	out->is_64bit = flags & IORESOURCE_MEM_64;
	return 0;
}
