// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr-fuzz: every operation on a dma-buf fd of the pool: mmap (vfio-pci's
 * have none), read and write (no dma-buf has them), lseek (only SEEK_END and
 * SEEK_SET with offset 0, SEEK_END giving the size), fsync, the SYNC,
 * SET_NAME and sync_file ioctls, poll, dup, close, fdinfo, debugfs bufinfo,
 * passing fds to other threads with SCM_RIGHTS, and unknown ioctls. Each
 * outcome is predicted exactly where the dma-buf core defines it; a
 * different one is a finding.
 */
#define _GNU_SOURCE	/* SEEK_HOLE */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/dma-buf.h>

#include "fuzz.h"

#define SCM_MAX_FDS		3

/* A dup of a random dma-buf of the pool, or -1. */
static int buf_dup(struct fuzz_thread *t, struct buf_meta *m)
{
	return pool_dup(&t->f->bufs, &t->rng, m);
}

static int finish(int fd, int ret)
{
	close(fd);
	return ret;
}

/* vfio-pci's dma-bufs have no mmap: userspace maps the BAR through VFIO. */
static int op_mmap(struct fuzz_thread *t)
{
	static const int prots[] = { PROT_READ, PROT_WRITE, PROT_READ | PROT_WRITE, PROT_NONE };
	uint64_t page = t->f->page;
	struct buf_meta m;
	int fd = buf_dup(t, &m), prot, flags;
	size_t len;
	off_t off;
	void *p;

	if (fd < 0)
		return FUZZ_SKIP;
	len = rng_one_in(&t->rng, 2) ? m.size : page * rng_below(&t->rng, 2 * m.size / page + 2);
	if (rng_one_in(&t->rng, 16))
		len = 1ULL << (30 + rng_below(&t->rng, 16));
	off = rng_one_in(&t->rng, 2) ? 0 : page * rng_below(&t->rng, m.size / page + 2);
	if (rng_one_in(&t->rng, 16))
		off += 1 + rng_below(&t->rng, page - 1);
	prot = prots[rng_below(&t->rng, 4)];
	flags = rng_one_in(&t->rng, 4) ? MAP_PRIVATE : MAP_SHARED;
	fz_note(t, "mmap dma-buf fd %d: len %zu prot %d flags 0x%x offset %lld", fd, len, prot,
		flags, (long long)off);
	p = mmap(NULL, len, prot, flags, fd, off);
	if (p == MAP_FAILED)
		return finish(fd, -errno);
	munmap(p, len);
	fz_finding(t, "mmap of a BAR dma-buf (%zu bytes at %lld) succeeded", len, (long long)off);
	return finish(fd, 0);
}

/* A dma-buf has neither read nor write: EINVAL (EBADF if the mode forbids). */
static int op_read_write(struct fuzz_thread *t)
{
	static const char *const names[] = { "read", "write", "pread", "pwritev" };
	size_t len = rng_below(&t->rng, 4096);
	int fd = buf_dup(t, NULL), how = rng_below(&t->rng, 4);
	struct iovec iov = { t->scratch, len };
	ssize_t n;

	if (fd < 0)
		return FUZZ_SKIP;
	fz_note(t, "%s dma-buf fd %d: %zu bytes", names[how], fd, len);
	switch (how) {
	case 0:
		n = read(fd, t->scratch, len);
		break;
	case 1:
		n = write(fd, t->scratch, len);
		break;
	case 2:
		n = pread(fd, t->scratch, len, rng_below(&t->rng, 1 << 20));
		break;
	default:
		n = pwritev(fd, &iov, 1, rng_below(&t->rng, 1 << 20));
		break;
	}
	if (n < 0)
		return finish(fd, -errno);
	fz_finding(t, "%s of %zu bytes on a dma-buf returned %zd", names[how], len, n);
	return finish(fd, 0);
}

/* Only SEEK_END and SEEK_SET, both with offset 0, are allowed. */
static int op_lseek(struct fuzz_thread *t)
{
	struct buf_meta m;
	int fd = buf_dup(t, &m), whence = rng_below(&t->rng, 8);
	off_t off = rng_one_in(&t->rng, 4) ?
		    (off_t)(rng_next(&t->rng) >> rng_below(&t->rng, 64)) : 0;
	off_t want, got;

	if (fd < 0)
		return FUZZ_SKIP;
	if (whence > SEEK_HOLE)
		whence = rng_one_in(&t->rng, 2) ? SEEK_END : 5 + rng_below(&t->rng, 100);
	want = off ? -1 : whence == SEEK_END ? (off_t)m.size : whence == SEEK_SET ? 0 : -1;
	fz_note(t, "lseek dma-buf fd %d: offset %lld whence %d", fd, (long long)off, whence);
	got = lseek(fd, off, whence);
	if (got != want || (got < 0 && errno != EINVAL))
		fz_finding(t, "lseek(%lld, whence %d) of a %llu-byte dma-buf: %lld (%s), expected %lld",
			   (long long)off, whence, (unsigned long long)m.size, (long long)got,
			   got < 0 ? fz_errname(errno) : "success", (long long)want);
	return finish(fd, got < 0 ? -errno : 0);
}

static int op_fsync(struct fuzz_thread *t)
{
	int fd = buf_dup(t, NULL), ret;

	if (fd < 0)
		return FUZZ_SKIP;
	fz_note(t, "fsync dma-buf fd %d", fd);
	ret = rng_one_in(&t->rng, 2) ? fsync(fd) : fdatasync(fd);
	if (!ret)
		fz_finding(t, "fsync of a dma-buf succeeded (it has no fsync)");
	return finish(fd, ret ? -errno : 0);
}

/* DMA_BUF_IOCTL_SYNC: START or END with READ, WRITE or both, else EINVAL. */
static int op_sync_ioctl(struct fuzz_thread *t)
{
	static const uint64_t dirs[] = { DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_RW, 0 };
	struct dma_buf_sync s = {
		.flags = dirs[rng_below(&t->rng, 4)] |
			 (rng_one_in(&t->rng, 2) ? DMA_BUF_SYNC_END : DMA_BUF_SYNC_START),
	};
	int fd = buf_dup(t, NULL), ret;
	bool valid;
	void *arg = &s;

	if (fd < 0)
		return FUZZ_SKIP;
	if (rng_one_in(&t->rng, 8))
		s.flags |= 1ULL << (3 + rng_below(&t->rng, 61));
	valid = (s.flags & DMA_BUF_SYNC_RW) && !(s.flags & ~DMA_BUF_SYNC_VALID_FLAGS_MASK);
	if (rng_one_in(&t->rng, 32)) {
		arg = t->scratch + t->scratch_len;	/* the PROT_NONE page */
		t->allow = EFAULT;
		valid = false;
	}
	fz_note(t, "DMA_BUF_IOCTL_SYNC fd %d flags 0x%llx", fd, (unsigned long long)s.flags);
	ret = ioctl(fd, DMA_BUF_IOCTL_SYNC, arg) ? -errno : 0;
	if (valid != !ret)
		fz_finding(t, "DMA_BUF_IOCTL_SYNC flags 0x%llx: %s, expected %s",
			   (unsigned long long)s.flags, ret ? fz_errname(-ret) : "success",
			   valid ? "success" : "an error");
	return finish(fd, ret);
}

/*
 * DMA_BUF_SET_NAME: a string of up to 31 characters, else EINVAL; a string
 * running into the PROT_NONE page or a NULL pointer, EFAULT.
 */
static int op_set_name(struct fuzz_thread *t)
{
	size_t len = rng_one_in(&t->rng, 2) ? rng_below(&t->rng, 40) : rng_below(&t->rng, 4096);
	unsigned long cmd = rng_one_in(&t->rng, 2) ? DMA_BUF_SET_NAME_A : DMA_BUF_SET_NAME_B;
	bool terminated = !rng_one_in(&t->rng, 16);
	char *end = (char *)t->scratch + t->scratch_len, *name = end - len - terminated;
	int fd = buf_dup(t, NULL), ret;
	size_t i, effective;
	bool valid;

	if (fd < 0)
		return FUZZ_SKIP;
	/* Unterminated: the string runs into the PROT_NONE page. */
	for (i = 0; i < len; i++)
		name[i] = terminated ? (char)rng_next(&t->rng) : (char)('a' + rng_below(&t->rng, 26));
	if (terminated)
		name[len] = '\0';
	effective = strnlen(name, end - name);
	valid = effective < (size_t)(end - name) && effective < DMA_BUF_NAME_LEN;
	if (effective == (size_t)(end - name) && effective < DMA_BUF_NAME_LEN)
		t->allow = EFAULT;
	if (rng_one_in(&t->rng, 32)) {
		name = NULL;
		valid = false;
		t->allow = EFAULT;
	}
	fz_note(t, "DMA_BUF_SET_NAME fd %d: %zu characters%s", fd, effective,
		name ? "" : " (NULL)");
	ret = ioctl(fd, cmd, name) ? -errno : 0;
	if (valid != !ret)
		fz_finding(t, "DMA_BUF_SET_NAME of %zu characters%s: %s, expected %s", effective,
			   name ? "" : " (NULL)", ret ? fz_errname(-ret) : "success",
			   valid ? "success" : "an error");
	return finish(fd, ret);
}

/* The fences of our dma-bufs are all signalled: a sync_file is ready. */
static void sync_file_check(struct fuzz_thread *t, int sync_fd)
{
	struct pollfd p = { .fd = sync_fd, .events = POLLIN };
	int n = poll(&p, 1, 1000);

	if (n != 1 || !(p.revents & POLLIN))
		fz_finding(t, "a sync_file of a dma-buf without pending fences is not signalled (poll %d, revents 0x%x)",
			   n, p.revents);
}

/* DMA_BUF_IOCTL_IMPORT_SYNC_FILE of @sync_fd into a random dma-buf. */
static void sync_file_import(struct fuzz_thread *t, int sync_fd)
{
	struct dma_buf_import_sync_file im = {
		.flags = rng_one_in(&t->rng, 8) ? (uint32_t)rng_next(&t->rng) :
			 1 + rng_below(&t->rng, 3),
		.fd = sync_fd,
	};
	int fd = buf_dup(t, NULL), ret;
	bool valid;

	if (fd < 0)
		return;
	if (rng_one_in(&t->rng, 8))
		im.fd = rng_one_in(&t->rng, 2) ? fd : -1;	/* not a sync_file */
	valid = im.fd == sync_fd && (im.flags & DMA_BUF_SYNC_RW) &&
		!(im.flags & ~DMA_BUF_SYNC_RW);
	fz_note(t, "DMA_BUF_IOCTL_IMPORT_SYNC_FILE fd %d flags 0x%x sync fd %d", fd, im.flags,
		im.fd);
	ret = ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im) ? errno : 0;
	if (valid ? ret && ret != ENOMEM : ret != EINVAL)
		fz_finding(t, "DMA_BUF_IOCTL_IMPORT_SYNC_FILE flags 0x%x %s: %s", im.flags,
			   im.fd == sync_fd ? "of a sync_file" : "of something else",
			   ret ? fz_errname(ret) : "success");
	close(fd);
}

/*
 * DMA_BUF_IOCTL_EXPORT_SYNC_FILE, then import it into another dma-buf. The
 * test kernel has CONFIG_SYNC_FILE: ENOTTY is counted as a finding (once).
 */
static int op_sync_file(struct fuzz_thread *t)
{
	struct dma_buf_export_sync_file ex = {
		.flags = rng_one_in(&t->rng, 8) ? (uint32_t)rng_next(&t->rng) :
			 1 + rng_below(&t->rng, 3),
		.fd = -1,
	};
	bool valid = (ex.flags & DMA_BUF_SYNC_RW) && !(ex.flags & ~DMA_BUF_SYNC_RW);
	static bool told;
	int fd = buf_dup(t, NULL), ret;

	if (fd < 0)
		return FUZZ_SKIP;
	fz_note(t, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE fd %d flags 0x%x", fd, ex.flags);
	ret = ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) ? -errno : 0;
	if (ret == -ENOTTY && !__atomic_exchange_n(&told, true, __ATOMIC_RELAXED))
		fz_finding(t, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE: ENOTTY, the kernel lacks CONFIG_SYNC_FILE (counted once)");
	else if (ret != -ENOTTY && valid != !ret && ret != -EMFILE && ret != -ENOMEM)
		fz_finding(t, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE flags 0x%x: %s, expected %s", ex.flags,
			   ret ? fz_errname(-ret) : "success", valid ? "success" : "EINVAL");
	if (!ret) {
		sync_file_check(t, ex.fd);
		sync_file_import(t, ex.fd);
		close(ex.fd);
	}
	return finish(fd, ret);
}

static int op_poll(struct fuzz_thread *t)
{
	static const short evs[] = { POLLIN, POLLOUT, POLLIN | POLLOUT, POLLPRI };
	struct pollfd p = { .events = evs[rng_below(&t->rng, 4)] };
	int n;

	p.fd = buf_dup(t, NULL);
	if (p.fd < 0)
		return FUZZ_SKIP;
	fz_note(t, "poll dma-buf fd %d events 0x%x", p.fd, p.events);
	n = poll(&p, 1, p.events & (POLLIN | POLLOUT) ? 1000 : rng_below(&t->rng, 20));
	if (n < 0)
		return finish(p.fd, -errno);
	if ((p.events & (POLLIN | POLLOUT)) && n != 1)
		fz_finding(t, "poll(0x%x) of a dma-buf without pending fences: not ready in 1 s",
			   p.events);
	return finish(p.fd, 0);
}

static int op_dup(struct fuzz_thread *t)
{
	struct buf_meta m;
	int fd = buf_dup(t, &m);

	if (fd < 0)
		return FUZZ_SKIP;
	pool_put(&t->f->bufs, &t->rng, fd, &m);
	return 0;
}

static int op_close(struct fuzz_thread *t)
{
	int fd = pool_take(&t->f->bufs, &t->rng);

	if (fd < 0)
		return FUZZ_SKIP;
	fz_note(t, "close dma-buf fd %d", fd);
	return close(fd) ? -errno : 0;
}

/* /proc/self/fdinfo: what libp2pmr reads the size from. */
static int op_fdinfo(struct fuzz_thread *t)
{
	struct buf_meta m;
	int fd = buf_dup(t, &m), ret;
	uint64_t size;

	if (fd < 0)
		return FUZZ_SKIP;
	fz_note(t, "fdinfo of dma-buf fd %d", fd);
	ret = p2pmr_dmabuf_size(fd, &size);
	if (ret)
		fz_finding(t, "fdinfo of a dma-buf: %s", p2pmr_last_error());
	else if (size != m.size)
		fz_finding(t, "fdinfo says a %llu-byte dma-buf has %llu bytes",
			   (unsigned long long)m.size, (unsigned long long)size);
	return finish(fd, -ret);
}

/* The debugfs list of every dma-buf, walked while they come and go. */
static int op_bufinfo(struct fuzz_thread *t)
{
	FILE *f = fopen("/sys/kernel/debug/dma_buf/bufinfo", "re");
	bool total = false;
	char line[512];

	if (!f)
		return FUZZ_SKIP;
	fz_note(t, "reading dma_buf/bufinfo");
	while (fgets(line, sizeof(line), f))
		total |= !strncmp(line, "Total ", 6);
	if (ferror(f) || !total)
		fz_finding(t, "dma_buf/bufinfo: %s", ferror(f) ? "read error" : "no \"Total\" line");
	fclose(f);
	return 0;
}

struct scm_payload {
	uint32_t nr;
	struct buf_meta meta[SCM_MAX_FDS];
};

/* Pass up to three dma-bufs to whichever thread receives next. */
static int op_scm_send(struct fuzz_thread *t)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(SCM_MAX_FDS * sizeof(int))];
	} c = { 0 };
	struct scm_payload pl = { .nr = 1 + rng_below(&t->rng, SCM_MAX_FDS) };
	struct iovec iov = { &pl, sizeof(pl) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf };
	int fds[SCM_MAX_FDS], ret = 0;
	unsigned int i;

	for (i = 0; i < pl.nr; i++) {
		fds[i] = buf_dup(t, &pl.meta[i]);
		if (fds[i] < 0)
			break;
	}
	if (i < pl.nr) {
		while (i--)
			close(fds[i]);
		return FUZZ_SKIP;
	}
	msg.msg_controllen = CMSG_SPACE(pl.nr * sizeof(int));
	c.h.cmsg_level = SOL_SOCKET;
	c.h.cmsg_type = SCM_RIGHTS;
	c.h.cmsg_len = CMSG_LEN(pl.nr * sizeof(int));
	memcpy(CMSG_DATA(&c.h), fds, pl.nr * sizeof(int));
	fz_note(t, "SCM_RIGHTS: sending %u dma-buf(s)", pl.nr);
	if (sendmsg(t->f->sock[0], &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		ret = -errno;
	for (i = 0; i < pl.nr; i++)
		close(fds[i]);
	return ret;
}

/* The fds that came, sized as the sender said, into the pool. */
static void scm_take(struct fuzz_thread *t, struct msghdr *msg, const struct scm_payload *pl)
{
	struct cmsghdr *h;
	unsigned int i = 0, n, k;
	uint64_t size;
	int fd;

	for (h = CMSG_FIRSTHDR(msg); h; h = CMSG_NXTHDR(msg, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < n; k++, i++) {
			memcpy(&fd, CMSG_DATA(h) + k * sizeof(int), sizeof(fd));
			if (i < pl->nr && !p2pmr_dmabuf_size(fd, &size) &&
			    size == pl->meta[i].size) {
				pool_put(&t->f->bufs, &t->rng, fd, &pl->meta[i]);
				continue;
			}
			fz_finding(t, "SCM_RIGHTS: received fd %u is not the dma-buf sent (%u sent)",
				   i, pl->nr);
			close(fd);
		}
	}
	if (!(msg->msg_flags & MSG_CTRUNC) && i != pl->nr)
		fz_finding(t, "SCM_RIGHTS: %u fds sent, %u received", pl->nr, i);
}

/* Receive; one time in eight with room for one fd only (MSG_CTRUNC). */
static int op_scm_recv(struct fuzz_thread *t)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(SCM_MAX_FDS * sizeof(int))];
	} c;
	struct scm_payload pl = { 0 };
	struct iovec iov = { &pl, sizeof(pl) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
		.msg_controllen = rng_one_in(&t->rng, 8) ? CMSG_SPACE(sizeof(int)) : sizeof(c.buf),
	};
	ssize_t n;

	fz_note(t, "SCM_RIGHTS: receiving");
	n = recvmsg(t->f->sock[1], &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN ? FUZZ_SKIP : -errno;
	if (n != sizeof(pl) || !pl.nr || pl.nr > SCM_MAX_FDS) {
		fz_finding(t, "SCM_RIGHTS: a message of %zd bytes for %u fds", n, pl.nr);
		pl.nr = 0;
	}
	scm_take(t, &msg, &pl);
	return 0;
}

/* Random ioctl numbers of the dma-buf type ('b'), on a zeroed argument. */
static int op_junk_ioctl(struct fuzz_thread *t)
{
	static const unsigned int dirs[] = { _IOC_NONE, _IOC_READ, _IOC_WRITE,
					     _IOC_READ | _IOC_WRITE };
	unsigned long cmd = _IOC(dirs[rng_below(&t->rng, 4)], DMA_BUF_BASE,
				 rng_below(&t->rng, 16), rng_below(&t->rng, 65));
	int fd = buf_dup(t, NULL), ret;

	if (fd < 0)
		return FUZZ_SKIP;
	memset(t->scratch, 0, 4096);
	fz_note(t, "ioctl 0x%lx on dma-buf fd %d", cmd, fd);
	ret = ioctl(fd, cmd, t->scratch) ? -errno : 0;
	return finish(fd, ret);
}

const struct fuzz_op fuzz_fd_ops[] = {
	FUZZ_OP("mmap", op_mmap, 16, ERRNOS(EINVAL, EACCES, ENOMEM, EOVERFLOW, ENODEV)),
	FUZZ_OP("read-write", op_read_write, 16, ERRNOS(EINVAL, EBADF, ESPIPE)),
	FUZZ_OP("lseek", op_lseek, 16, ERRNOS(EINVAL)),
	FUZZ_OP("fsync", op_fsync, 8, ERRNOS(EINVAL)),
	FUZZ_OP("sync-ioctl", op_sync_ioctl, 16, ERRNOS(EINVAL)),
	FUZZ_OP("set-name", op_set_name, 16, ERRNOS(EINVAL)),
	FUZZ_OP("sync-file", op_sync_file, 16, ERRNOS(EINVAL, ENOTTY, EMFILE, ENOMEM)),
	FUZZ_OP("poll", op_poll, 12, ERRNOS(ENOMEM)),
	FUZZ_OP("dup", op_dup, 24, NULL),
	FUZZ_OP("close", op_close, 48, NULL),
	FUZZ_OP("fdinfo", op_fdinfo, 12, NULL),
	FUZZ_OP("bufinfo", op_bufinfo, 8, NULL),
	FUZZ_OP("scm-send", op_scm_send, 20, ERRNOS(EAGAIN, ENOBUFS, ETOOMANYREFS, ENOMEM)),
	FUZZ_OP("scm-recv", op_scm_recv, 20, NULL),
	FUZZ_OP("junk-ioctl", op_junk_ioctl, 12, ERRNOS(ENOTTY, EINVAL)),
	FUZZ_OP_END,
};

