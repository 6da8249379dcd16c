// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Descriptor passing and dropping privileges, for the C tests (unpriv.h). */
#define _GNU_SOURCE	/* setgroups */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unpriv.h"

static int unpriv_err(const char *what, int err)
{
	fprintf(stderr, "%s: %s\n", what, strerror(err));
	return -err;
}

int fds_send(int sock, const int *fds, unsigned int n)
{
	char cbuf[CMSG_SPACE(UNPRIV_MAX_FDS * sizeof(int))] = { 0 };
	char byte = 'f';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = CMSG_SPACE(n * sizeof(int)),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	if (n > UNPRIV_MAX_FDS)
		return unpriv_err("fds_send", EINVAL);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cmsg), fds, n * sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : unpriv_err("sendmsg", errno);
}

int fds_recv(int sock, int *fds, unsigned int n)
{
	char cbuf[CMSG_SPACE(UNPRIV_MAX_FDS * sizeof(int))];
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg;
	ssize_t len = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);

	if (len < 0)
		return unpriv_err("recvmsg", errno);
	if (!len)
		return -EPIPE;	/* the sender is done */
	cmsg = CMSG_FIRSTHDR(&msg);
	if (len != 1 || !cmsg || cmsg->cmsg_type != SCM_RIGHTS ||
	    cmsg->cmsg_len != CMSG_LEN(n * sizeof(int)))
		return unpriv_err("recvmsg: no message with the descriptors", EPROTO);
	memcpy(fds, CMSG_DATA(cmsg), n * sizeof(int));
	return 0;
}

/* Is the capability set @name of /proc/self/status empty? */
static int caps_empty(const char *name)
{
	FILE *f = fopen("/proc/self/status", "re");
	size_t len = strlen(name);
	unsigned long long caps = ~0ULL;
	char line[256];

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':')
			caps = strtoull(line + len + 1, NULL, 16);
	if (f)
		fclose(f);
	if (!caps)
		return 0;
	fprintf(stderr, "after dropping privileges %s is %llx, expected 0\n", name, caps);
	return -EPERM;
}

int unpriv_drop(void)
{
	int ret;

	if (setgroups(0, NULL))
		return unpriv_err("setgroups", errno);
	if (setgid(UNPRIV_GID))
		return unpriv_err("setgid", errno);
	if (setuid(UNPRIV_UID))
		return unpriv_err("setuid", errno);
	if (getuid() != UNPRIV_UID || geteuid() != UNPRIV_UID || getegid() != UNPRIV_GID)
		return unpriv_err("still privileged after setuid", EPERM);
	if (!setuid(0))
		return unpriv_err("setuid(0) worked after the drop", EPERM);
	ret = caps_empty("CapEff");
	if (!ret)
		ret = caps_empty("CapPrm");
	if (!ret)
		ret = caps_empty("CapAmb");
	return ret;
}
