// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Live dma-bufs and MRs, as the kernel shows them (kcounts.h). */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcounts.h"

int count_dmabufs(void)
{
	FILE *f = fopen("/sys/kernel/debug/dma_buf/bufinfo", "re");
	char line[256];
	int n = -1;

	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "Total %d objects", &n);
	if (f)
		fclose(f);
	return n;
}

/* fds of this process whose link starts with @prefix (NULL: all). */
static int count_fd_links(const char *prefix)
{
	DIR *d = opendir("/proc/self/fd");
	char path[PATH_MAX], link[PATH_MAX];
	struct dirent *e;
	int n = 0;
	ssize_t len;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		if (!prefix) {
			n++;
			continue;
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		link[len > 0 ? len : 0] = '\0';
		if (!strncmp(link, prefix, strlen(prefix)))
			n++;
	}
	closedir(d);
	return n;
}

int count_dmabuf_fds(void)
{
	return count_fd_links("/dmabuf:");
}

int count_fds(void)
{
	return count_fd_links(NULL);
}

int count_mrs(const char *ibdev)
{
	char cmd[128], line[512], *p;
	int n = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "rdma resource show %s 2>/dev/null", ibdev);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f)) {
		p = strstr(line, " mr ");
		if (p)
			n = atoi(p + 4);
	}
	if (f)
		pclose(f);
	return n;
}
