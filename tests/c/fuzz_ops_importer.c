// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr-fuzz: the dma-buf test importer (test_importer.h) on the pool's
 * dma-bufs: sessions attach with random flags (pinned, late to unmap,
 * static, without peer-to-peer), map, vmap, copy through the vmap, unmap
 * and detach while the device revokes. vfio-pci must refuse static and
 * non-peer-to-peer importers, and pinning by an importer that does not
 * honour revocation while pinned: accepting one is a finding.
 */
#include <errno.h>
#include <unistd.h>

#include "fuzz.h"
#include "test_importer.h"

#define TI_MAX_SEGS 8

static int session_dup(struct fuzz_thread *t)
{
	return t->f->no_importer ? -1 : pool_dup(&t->f->sessions, &t->rng, NULL);
}

static int finish(int fd, int ret)
{
	close(fd);
	return ret;
}

/* A few sessions, so that the other calls find them attached. */
#define TI_SESSIONS 6

static int op_ti_open(struct fuzz_thread *t)
{
	int fd;

	if (t->f->no_importer ||
	    __atomic_load_n(&t->f->sessions.nr, __ATOMIC_RELAXED) >= TI_SESSIONS)
		return FUZZ_SKIP;
	fd = ti_open();
	if (fd == -ENOENT) {
		t->f->no_importer = true;
		return FUZZ_SKIP;
	}
	if (fd < 0)
		return fd;
	pool_put(&t->f->sessions, &t->rng, fd, NULL);
	return 0;
}

static uint32_t pick_attach_flags(struct fuzz_thread *t, const char **pci, const char **bad)
{
	struct rng *r = &t->rng;
	uint32_t flags = 0;

	*pci = NULL;
	if (rng_one_in(r, 2)) {
		*pci = t->f->importer && rng_one_in(r, 2) ? t->f->importer :
		       rng_one_in(r, 16) ? "00ff:ff:1f.7" : t->f->addr;
	}
	if (rng_one_in(r, 4))
		flags |= DMA_BUF_TI_ATTACH_PIN;
	if (rng_one_in(r, 16))
		flags |= DMA_BUF_TI_ATTACH_KEEP_MAPPED;
	if (rng_one_in(r, 8))
		flags |= DMA_BUF_TI_ATTACH_NOT_REVOCABLE;
	if (rng_one_in(r, 16)) {
		flags |= DMA_BUF_TI_ATTACH_STATIC;
		*bad = "a static importer";
	} else if (rng_one_in(r, 16)) {
		flags |= DMA_BUF_TI_ATTACH_NO_P2P;
		*bad = "an importer without peer-to-peer";
	} else if (flags & DMA_BUF_TI_ATTACH_NOT_REVOCABLE) {
		/* Without PIN the test importer refuses it itself (EINVAL). */
		*bad = "an importer that cannot be revoked (no move_notify)";
	}
	if (rng_one_in(r, 32)) {
		flags |= 1U << (6 + rng_below(r, 26));
		*bad = "unknown flags";
	}
	return flags;
}

static int op_ti_attach(struct fuzz_thread *t)
{
	int s = session_dup(t), b, ret;
	const char *pci, *bad = NULL;
	uint32_t flags;

	if (s < 0)
		return FUZZ_SKIP;
	b = pool_dup(&t->f->bufs, &t->rng, NULL);
	if (b < 0)
		return finish(s, FUZZ_SKIP);
	flags = pick_attach_flags(t, &pci, &bad);
	fz_note(t, "test importer: attach flags 0x%x as %s", flags, pci ? pci : "itself");
	ret = ti_attach_flags(s, b, pci, flags);
	close(b);
	if (!ret && bad)
		fz_finding(t, "vfio-pci accepted %s (test importer flags 0x%x)", bad, flags);
	return finish(s, ret);
}

static int op_ti_map(struct fuzz_thread *t)
{
	struct dma_buf_ti_seg *segs = (void *)t->scratch;
	int s = session_dup(t), ret;
	uint32_t nr;

	if (s < 0)
		return FUZZ_SKIP;
	fz_note(t, "test importer: map");
	ret = ti_map(s, segs, rng_below(&t->rng, TI_MAX_SEGS + 1), &nr);
	return finish(s, ret);
}

static int op_ti_unmap(struct fuzz_thread *t)
{
	int s = session_dup(t);

	if (s < 0)
		return FUZZ_SKIP;
	fz_note(t, "test importer: unmap");
	return finish(s, ti_unmap(s));
}

static int op_ti_vmap(struct fuzz_thread *t)
{
	int s = session_dup(t);

	if (s < 0)
		return FUZZ_SKIP;
	fz_note(t, "test importer: vmap");
	return finish(s, rng_one_in(&t->rng, 3) ? ti_vunmap(s) : ti_vmap(s));
}

/* Copy through the vmap: inside the buffer mostly, sometimes beyond it. */
static int op_ti_rw(struct fuzz_thread *t)
{
	struct dma_buf_ti_status st;
	int s = session_dup(t), ret;
	uint64_t off, len;
	bool write;

	if (s < 0)
		return FUZZ_SKIP;
	ret = ti_status(s, &st);
	if (ret || !st.attached)
		return finish(s, ret ? ret : FUZZ_SKIP);
	len = 1 + rng_below(&t->rng, st.size < t->scratch_len ? st.size : t->scratch_len);
	off = rng_below(&t->rng, st.size - len + 1);
	if (rng_one_in(&t->rng, 16))
		off = st.size - len / 2;
	write = rng_one_in(&t->rng, 2);
	fz_note(t, "test importer: %s %llu bytes at 0x%llx of %llu", write ? "write" : "read",
		(unsigned long long)len, (unsigned long long)off, (unsigned long long)st.size);
	ret = write ? ti_write(s, off, t->scratch, len) : ti_read(s, off, t->scratch, len);
	return finish(s, ret);
}

static int op_ti_status(struct fuzz_thread *t)
{
	struct dma_buf_ti_status st;
	int s = session_dup(t);

	if (s < 0)
		return FUZZ_SKIP;
	fz_note(t, "test importer: status");
	return finish(s, ti_status(s, &st));
}

static int op_ti_detach(struct fuzz_thread *t)
{
	int s = session_dup(t);

	if (s < 0)
		return FUZZ_SKIP;
	fz_note(t, "test importer: detach");
	return finish(s, ti_detach(s));
}

static int op_ti_close(struct fuzz_thread *t)
{
	int s = t->f->no_importer ? -1 : pool_take(&t->f->sessions, &t->rng);

	if (s < 0)
		return FUZZ_SKIP;
	fz_note(t, "test importer: closing a session");
	return close(s) ? -errno : 0;
}

const struct fuzz_op fuzz_importer_ops[] = {
	FUZZ_OP("ti-open", op_ti_open, 12, ERRNOS(ENOMEM, EMFILE)),
	FUZZ_OP("ti-attach", op_ti_attach, 32, ERRNOS(EBUSY, EOPNOTSUPP, ENODEV, EINVAL, ENOMEM)),
	FUZZ_OP("ti-map", op_ti_map, 24, ERRNOS(EINVAL, EBUSY, ENODEV, EOPNOTSUPP, ENOMEM, EIO)),
	FUZZ_OP("ti-unmap", op_ti_unmap, 12, ERRNOS(EINVAL)),
	FUZZ_OP("ti-vmap", op_ti_vmap, 20, ERRNOS(EINVAL, EBUSY, ENODEV, EOPNOTSUPP, ENOMEM)),
	FUZZ_OP("ti-copy", op_ti_rw, 20, ERRNOS(EINVAL, ENODEV, ENOMEM)),
	FUZZ_OP("ti-status", op_ti_status, 8, NULL),
	FUZZ_OP("ti-detach", op_ti_detach, 12, ERRNOS(EINVAL)),
	FUZZ_OP("ti-close", op_ti_close, 8, NULL),
	FUZZ_OP_END,
};
