// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr-fuzz: memory regions over the pool's dma-bufs, registered through
 * libp2pmr and through the kernel's REG_DMABUF_MR method, deregistered, and
 * moved between PDs or given other access flags with rereg; and each
 * thread's QPs and host buffers.
 *
 * Registration is modelled like the export: a length of 0, a range past the
 * dma-buf or wrapping, an iova at another offset in its page than the
 * offset, or wrapping, remote write or atomic without local write, memory
 * window access, a PD handle that does not exist or an fd that is not a
 * dma-buf must be refused; the whole or a page-aligned part of a
 * read-write dma-buf with plain access flags must register
 * unless the buffer is revoked (ENODEV) or memory is short. Deregistration
 * must never fail; rereg with no flag or unknown flags must.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rdma/ib_user_verbs.h>

#include "fuzz.h"

int fz_thread_verbs_open(struct fuzz_thread *t)
{
	struct fuzz *f = t->f;
	int ret;

	t->host = aligned_alloc(f->page, FUZZ_HOST_LEN);
	t->check_host = aligned_alloc(f->page, FUZZ_HOST_LEN);
	if (!t->host || !t->check_host)
		return -ENOMEM;
	memset(t->host, 0, FUZZ_HOST_LEN);
	memset(t->check_host, 0, FUZZ_HOST_LEN);
	t->host_mr = ibv_reg_mr(f->pd[PD_MAIN], t->host, FUZZ_HOST_LEN, FUZZ_ACCESS_ALL);
	t->check_host_mr = ibv_reg_mr(f->pd[PD_CHECK], t->check_host, FUZZ_HOST_LEN,
				      FUZZ_ACCESS_ALL);
	if (!t->host_mr || !t->check_host_mr)
		return -errno;
	ret = loop_open_pd(&t->loop, f->pd[PD_MAIN], f->rdma.gid_index);
	if (!ret)
		ret = loop_open_pd(&t->check_loop, f->pd[PD_CHECK], f->rdma.gid_index);
	t->loop_ok = t->check_loop_ok = !ret;
	return ret;
}

void fz_thread_verbs_close(struct fuzz_thread *t)
{
	loop_close(&t->loop);
	loop_close(&t->check_loop);
	if (t->host_mr)
		ibv_dereg_mr(t->host_mr);
	if (t->check_host_mr)
		ibv_dereg_mr(t->check_host_mr);
	free(t->host);
	free(t->check_host);
}

struct reg_args {
	uint64_t offset, length, iova;
	int access;
	int fd;
	bool raw;
	unsigned int pd;
	uint32_t pd_handle;
	const char *bad;	/* why the kernel must refuse, or NULL */
	bool unsure;
};

static void pick_reg_range(struct fuzz_thread *t, const struct buf_meta *m, struct reg_args *a)
{
	uint64_t page = t->f->page, size = m->size;

	switch (rng_below(&t->rng, 16)) {
	case 0 ... 7:
		a->offset = 0;
		a->length = size;
		break;
	case 8 ... 11:
		a->offset = page * rng_below(&t->rng, size / page);
		a->length = page * (1 + rng_below(&t->rng, (size - a->offset) / page));
		break;
	case 12:
		a->offset = rng_below(&t->rng, size);
		a->length = 1 + rng_below(&t->rng, size - a->offset);
		a->unsure = true;
		break;
	case 13:
		a->offset = rng_below(&t->rng, size + 2 * page);
		a->length = size + 1 - (a->offset < size ? a->offset : 0) + rng_below(&t->rng, size);
		a->bad = "a range past the end of the dma-buf";
		break;
	case 14:
		a->offset = rng_below(&t->rng, size);
		a->length = 0;
		a->bad = "length 0";
		break;
	default:
		a->offset = UINT64_MAX - rng_below(&t->rng, page);
		a->length = 2 * page;
		a->bad = "offset + length wrapping around";
		break;
	}
}

static void pick_reg_iova(struct fuzz_thread *t, const struct buf_meta *m, struct reg_args *a)
{
	uint64_t in_page = a->offset & (t->f->page - 1);

	a->iova = FUZZ_IOVA_BASE + m->bar_offset + a->offset;
	switch (rng_below(&t->rng, 16)) {
	case 0:
		a->iova += 1 + rng_below(&t->rng, t->f->page - 1);
		if (!a->bad)
			a->bad = "an iova at another offset in its page than the offset";
		break;
	case 1:
		a->iova = ((UINT64_MAX - rng_below(&t->rng, 1ULL << 20)) & ~(t->f->page - 1)) | in_page;
		a->unsure = true;
		break;
	case 2:
		a->iova = (rng_next(&t->rng) & ~(t->f->page - 1)) | in_page;
		a->unsure = true;
		break;
	}
	if (a->length && a->iova + a->length < a->iova && !a->bad)
		a->bad = "iova + length wrapping around";
}

static void pick_reg_access(struct fuzz_thread *t, const struct buf_meta *m, struct reg_args *a)
{
	a->access = FUZZ_ACCESS_ALL;
	switch (rng_below(&t->rng, 32)) {
	case 0 ... 5:
		a->access = rng_below(&t->rng, 16) & FUZZ_ACCESS_ALL;
		break;
	case 6:
		a->access |= IBV_ACCESS_MW_BIND;
		if (!a->bad)
			a->bad = "memory window access";
		break;
	case 7:
		a->access |= IBV_ACCESS_ON_DEMAND;
		a->unsure = true;
		break;
	case 8:
		a->access |= 1 << (8 + rng_below(&t->rng, 24));
		a->unsure = true;
		break;
	}
	if ((a->access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) &&
	    !(a->access & IBV_ACCESS_LOCAL_WRITE) && !a->bad)
		a->bad = "remote write or atomic without local write";
	/* Write access to a dma-buf not open read-write may be refused. */
	if (m->accmode != O_RDWR)
		a->unsure = true;
}

/* An fd that is not a dma-buf, or not open; -1 when it is the dma-buf. */
static void pick_reg_fd(struct fuzz_thread *t, struct reg_args *a, int dmabuf)
{
	a->fd = dmabuf;
	if (!rng_one_in(&t->rng, 32))
		return;
	a->fd = rng_one_in(&t->rng, 2) ? t->f->sock[0] : 1 << 20;
	a->bad = "an fd that is not a dma-buf";
}

static void pick_reg_path(struct fuzz_thread *t, struct reg_args *a)
{
	a->raw = rng_one_in(&t->rng, 2);
	a->pd = rng_one_in(&t->rng, 8) ? PD_OTHER : PD_MAIN;
	a->pd_handle = t->f->pd[a->pd]->handle;
	if (a->raw && rng_one_in(&t->rng, 32)) {
		a->pd_handle = 0x7fff0000 | (uint32_t)rng_below(&t->rng, 0xffff);
		a->bad = "a PD handle that does not exist";
	}
}

/* The registration itself: 0 with @r filled in, or -errno (the fuzzer's way). */
static int reg_call(struct fuzz *f, const struct reg_args *a, struct mr_ref *r)
{
	struct p2pmr_mr_keys keys = { 0 };
	struct p2pmr_mr *mr;
	int ret = 0;

	*r = (struct mr_ref){ .iova = a->iova, .length = a->length, .pd = a->pd };
	lib_enter(f);
	if (a->raw) {
		ret = -p2pmr_uverbs_reg_dmabuf_mr(f->ctx->cmd_fd, a->pd_handle, a->offset,
						  a->length, a->iova, a->fd, a->access, &keys);
		r->kind = MR_RAW;
		r->handle = keys.handle;
		r->lkey = keys.lkey;
		r->rkey = keys.rkey;
	} else {
		mr = p2pmr_reg_dmabuf_mr(f->pd[a->pd], a->offset, a->length, a->iova, a->fd,
					 a->access);
		ret = mr ? 0 : -errno;
		r->kind = MR_LIB;
		r->mr = mr;
		r->handle = mr ? mr->handle : 0;
		r->lkey = mr ? mr->lkey : 0;
		r->rkey = mr ? mr->rkey : 0;
	}
	lib_exit(f);
	return ret;
}

/* Keep a new MR in the pool (deregistering one if it is full). */
static void reg_keep(struct fuzz_thread *t, struct mr_ref *r)
{
	struct mr_slot *s = mr_get_free(t->f, &t->rng);

	if (!s) {
		if (mr_dereg(t->f, r))
			fz_finding(t, "deregistering a new MR failed: %s", p2pmr_last_error());
		return;
	}
	s->ref = *r;
	mr_put(s);
}

static int op_reg(struct fuzz_thread *t)
{
	struct reg_args a = { 0 };
	struct mr_ref n;
	struct buf_meta m;
	int fd = pool_dup(&t->f->bufs, &t->rng, &m), ret;

	if (fd < 0)
		return FUZZ_SKIP;
	pick_reg_range(t, &m, &a);
	pick_reg_iova(t, &m, &a);
	pick_reg_access(t, &m, &a);
	pick_reg_fd(t, &a, fd);
	pick_reg_path(t, &a);
	fz_note(t, "%s: fd %d offset 0x%llx length 0x%llx iova 0x%llx access 0x%x%s",
		a.raw ? "p2pmr_uverbs_reg_dmabuf_mr" : "p2pmr_reg_dmabuf_mr", a.fd,
		(unsigned long long)a.offset, (unsigned long long)a.length,
		(unsigned long long)a.iova, a.access, a.bad ? " (must fail)" : "");
	ret = reg_call(t->f, &a, &n);
	close(fd);
	if (ret) {
		if (!a.bad && !a.unsure && ret != -ENODEV && ret != -ENOMEM)
			fz_finding(t, "registering a valid MR (offset 0x%llx length 0x%llx of a %llu-byte dma-buf) failed: %s",
				   (unsigned long long)a.offset, (unsigned long long)a.length,
				   (unsigned long long)m.size, fz_errname(-ret));
		return ret;
	}
	if (a.bad) {
		fz_finding(t, "registered an MR with %s (offset 0x%llx length 0x%llx iova 0x%llx access 0x%x, %llu-byte dma-buf)",
			   a.bad, (unsigned long long)a.offset, (unsigned long long)a.length,
			   (unsigned long long)a.iova, a.access, (unsigned long long)m.size);
		if (mr_dereg(t->f, &n))
			fz_finding(t, "deregistering it failed: %s", p2pmr_last_error());
		return 0;
	}
	reg_keep(t, &n);
	return 0;
}

static int op_dereg(struct fuzz_thread *t)
{
	struct mr_slot *s = mr_get(t->f, &t->rng);
	int ret;

	if (!s)
		return FUZZ_SKIP;
	fz_note(t, "deregistering MR handle %u (%s)", s->ref.handle,
		s->ref.kind == MR_LIB ? "p2pmr_dereg_mr" : "p2pmr_uverbs_dereg_mr");
	ret = mr_dereg(t->f, &s->ref);
	mr_put(s);
	return ret;
}

/* IB_USER_VERBS_CMD_REREG_MR on the command fd, as ibv_cmd_rereg_mr() does. */
static int rereg_raw(struct fuzz *f, struct mr_ref *r, int flags, uint32_t pd_handle,
		     int access)
{
	struct ib_uverbs_rereg_mr_resp resp = { 0 };
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_rereg_mr cmd;
	} req = {
		.hdr = {
			.command = IB_USER_VERBS_CMD_REREG_MR,
			.in_words = sizeof(req) / 4,
			.out_words = sizeof(resp) / 4,
		},
		.cmd = {
			.response = (uintptr_t)&resp,
			.mr_handle = r->handle,
			.flags = flags,
			.start = FUZZ_IOVA_BASE,
			.length = r->length,
			.hca_va = FUZZ_IOVA_BASE,
			.pd_handle = pd_handle,
			.access_flags = access,
		},
	};

	if (write(f->ctx->cmd_fd, &req, sizeof(req)) != sizeof(req))
		return -errno;
	r->lkey = resp.lkey;
	r->rkey = resp.rkey;
	return 0;
}

/*
 * Move an MR to the other PD and back, change its access: what rxe can do
 * to any MR. Flags 0 or unknown bits must be refused.
 */
static int op_rereg(struct fuzz_thread *t)
{
	struct fuzz *f = t->f;
	struct mr_slot *s = mr_get(f, &t->rng);
	int flags, access = FUZZ_ACCESS_ALL, ret;
	const char *bad = NULL;
	struct ibv_mr *ibv_mr;
	struct mr_ref *r;
	unsigned int pd;

	if (!s)
		return FUZZ_SKIP;
	r = &s->ref;
	pd = r->pd == PD_MAIN ? PD_OTHER : PD_MAIN;
	switch (rng_below(&t->rng, 10)) {
	case 0 ... 3:
		flags = IBV_REREG_MR_CHANGE_PD;
		break;
	case 4 ... 5:
		flags = IBV_REREG_MR_CHANGE_ACCESS;
		access = rng_below(&t->rng, 16) & FUZZ_ACCESS_ALL;
		break;
	case 6:
		flags = IBV_REREG_MR_CHANGE_PD | IBV_REREG_MR_CHANGE_ACCESS;
		break;
	case 7:
		flags = IBV_REREG_MR_CHANGE_TRANSLATION;
		break;
	case 8:
		flags = 0;
		bad = "no flag";
		break;
	default:
		flags = 1 << (3 + rng_below(&t->rng, 28));
		bad = "unknown flags";
		break;
	}
	fz_note(t, "rereg MR handle %u: flags 0x%x pd %u access 0x%x", r->handle, flags, pd,
		access);
	/* The provider's MR through libibverbs, any other by the command. */
	ibv_mr = r->kind == MR_LIB ? p2pmr_mr_ibv_mr(r->mr) : NULL;
	if (ibv_mr) {
		ret = ibv_rereg_mr(ibv_mr, flags, f->pd[pd], NULL, 0, access) ? -errno : 0;
		r->lkey = ibv_mr->lkey;
		r->rkey = ibv_mr->rkey;
	} else {
		ret = rereg_raw(f, r, flags, f->pd[pd]->handle, access);
	}
	if (!ret && (flags & IBV_REREG_MR_CHANGE_PD))
		r->pd = pd;
	mr_put(s);
	if (!ret && bad)
		fz_finding(t, "rereg with %s (0x%x) succeeded", bad, flags);
	return ret;
}

const struct fuzz_op fuzz_mr_ops[] = {
	FUZZ_OP("reg", op_reg, 160,
		ERRNOS(EINVAL, EBADF, ENODEV, EOPNOTSUPP, EACCES, ENOENT, ENOMEM)),
	FUZZ_OP("dereg", op_dereg, 60, NULL),
	FUZZ_OP("rereg", op_rereg, 32, ERRNOS(EINVAL, EOPNOTSUPP, EACCES)),
	FUZZ_OP_END,
};
