// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * mr-test: libp2pmr's memory regions on the host, with a fake kernel and a
 * fake provider. The library's objects are linked in with ioctl(),
 * ibv_reg_dmabuf_mr() and ibv_dereg_mr() wrapped (ld --wrap), so that
 *  - every RDMA_VERBS_IOCTL command is decoded and checked against the
 *    kernel's rules (drivers/infiniband/core/uverbs_ioctl.c and the
 *    REG_DMABUF_MR and MR_DESTROY method specs): header length, driver id,
 *    object and method, each attribute's id, length, flags and value;
 *  - the fake kernel answers with the keys and handle, or an errno, and
 *    refuses any driver id but its own, as the real one does;
 *  - the fake provider registers (an ibv_mr of its own, addr = offset as
 *    libibverbs sets it), says EOPNOTSUPP like rxe in rdma-core 44, or
 *    fails; its dereg frees what it made and nothing else.
 * Both registration paths, the choice between them, the ownership of the
 * provider's ibv_mr, the driver id probe and its cache, and the messages
 * of refused registrations are checked; at the end no MR may be left in
 * either fake. Run it under valgrind (ctest does when it is installed)
 * to have every allocation accounted for.
 * Prints TAP; exit status 0 when every check held.
 */
#define _GNU_SOURCE	/* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/rdma_user_ioctl_cmds.h>

#include "p2pmr.h"
#include "tap.h"

#define PD_HANDLE	5
#define IOVA		0x7f0000001000ULL
#define ACCESS		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

/* --- The fake kernel: RDMA_VERBS_IOCTL on one command fd --- */

struct reg_args {
	uint32_t pd_handle;
	uint64_t offset, length, iova, access;
	uint32_t fd;
};

static struct {
	int cmd_fd;		/* /dev/null: a character device, as uverbsN is */
	uint32_t driver_id;	/* the only one it takes */
	unsigned int probes;	/* QUERY_CONTEXT commands */
	unsigned int regs;	/* REG_DMABUF_MR commands that reached the method */
	int reg_err;		/* errno of the next REG_DMABUF_MR, 0: success */
	int destroy_err;	/* errno of the next MR_DESTROY, 0: success */
	struct reg_args reg;	/* the last REG_DMABUF_MR's arguments */
	uint32_t next_handle;
	uint32_t destroyed;	/* the last handle destroyed */
	unsigned int live;	/* MRs registered and not destroyed */
	char bad[256];		/* the first encoding error, "" if none */
} kern;

int __real_ioctl(int fd, unsigned long request, ...);

static __attribute__((format(printf, 1, 2))) int bad_encoding(const char *fmt, ...)
{
	va_list ap;

	if (!kern.bad[0]) {
		va_start(ap, fmt);
		vsnprintf(kern.bad, sizeof(kern.bad), fmt, ap);
		va_end(ap);
	}
	return EINVAL;
}

/* Attribute @id of @hdr, which must be there once, mandatory, reserved 0. */
static struct ib_uverbs_attr *attr(struct ib_uverbs_ioctl_hdr *hdr, uint16_t id)
{
	struct ib_uverbs_attr *found = NULL;
	unsigned int i;

	for (i = 0; i < hdr->num_attrs; i++) {
		if (hdr->attrs[i].attr_id != id)
			continue;
		if (found)
			bad_encoding("attribute %u twice", id);
		found = &hdr->attrs[i];
	}
	if (!found)
		bad_encoding("no attribute %u", id);
	else if (found->flags != UVERBS_ATTR_F_MANDATORY || found->attr_data.reserved)
		bad_encoding("attribute %u: flags 0x%x, reserved 0x%x", id, found->flags,
			     found->attr_data.reserved);
	return found;
}

/* An inline input of @len bytes: its value. */
static uint64_t in(struct ib_uverbs_ioctl_hdr *hdr, uint16_t id, uint16_t len)
{
	struct ib_uverbs_attr *a = attr(hdr, id);
	uint64_t v = 0;

	if (!a)
		return 0;
	if (a->len != len)
		bad_encoding("attribute %u: len %u, the kernel wants %u", id, a->len, len);
	memcpy(&v, &a->data, len <= sizeof(v) ? len : sizeof(v));
	return v;
}

/* An object handle (IDR): len 0, the handle in data. */
static struct ib_uverbs_attr *idr(struct ib_uverbs_ioctl_hdr *hdr, uint16_t id)
{
	struct ib_uverbs_attr *a = attr(hdr, id);

	if (a && a->len)
		bad_encoding("IDR attribute %u: len %u, must be 0", id, a->len);
	return a;
}

/* A u32 output: len 4, a pointer in data. */
static void out_u32(struct ib_uverbs_ioctl_hdr *hdr, uint16_t id, uint32_t v)
{
	struct ib_uverbs_attr *a = attr(hdr, id);

	if (a && a->len != sizeof(uint32_t))
		bad_encoding("output attribute %u: len %u, must be 4", id, a->len);
	else if (a)
		*(uint32_t *)(uintptr_t)a->data = v;
}

static int kern_reg(struct ib_uverbs_ioctl_hdr *hdr)
{
	struct ib_uverbs_attr *handle, *pd_handle;
	uint32_t new_handle;

	if (hdr->num_attrs != 9)
		return bad_encoding("REG_DMABUF_MR with %u attributes, not 9", hdr->num_attrs);
	handle = idr(hdr, UVERBS_ATTR_REG_DMABUF_MR_HANDLE);
	pd_handle = idr(hdr, UVERBS_ATTR_REG_DMABUF_MR_PD_HANDLE);
	kern.reg.pd_handle = pd_handle ? pd_handle->data : 0;
	kern.reg.offset = in(hdr, UVERBS_ATTR_REG_DMABUF_MR_OFFSET, 8);
	kern.reg.length = in(hdr, UVERBS_ATTR_REG_DMABUF_MR_LENGTH, 8);
	kern.reg.iova = in(hdr, UVERBS_ATTR_REG_DMABUF_MR_IOVA, 8);
	kern.reg.fd = in(hdr, UVERBS_ATTR_REG_DMABUF_MR_FD, 4);
	kern.reg.access = in(hdr, UVERBS_ATTR_REG_DMABUF_MR_ACCESS_FLAGS, 8);
	if (kern.bad[0] || !handle)
		return EINVAL;
	kern.regs++;
	if (kern.reg_err)
		return kern.reg_err;
	new_handle = kern.next_handle++;
	out_u32(hdr, UVERBS_ATTR_REG_DMABUF_MR_RESP_LKEY, 0x1000 + new_handle);
	out_u32(hdr, UVERBS_ATTR_REG_DMABUF_MR_RESP_RKEY, 0x2000 + new_handle);
	handle->data = new_handle;	/* the kernel writes a new object's handle back */
	kern.live++;
	return 0;
}

static int kern_destroy(struct ib_uverbs_ioctl_hdr *hdr)
{
	struct ib_uverbs_attr *handle;

	if (hdr->num_attrs != 1)
		return bad_encoding("MR_DESTROY with %u attributes, not 1", hdr->num_attrs);
	handle = idr(hdr, UVERBS_ATTR_DESTROY_MR_HANDLE);
	if (!handle)
		return EINVAL;
	if (kern.destroy_err)
		return kern.destroy_err;
	if (!kern.live || handle->data >= kern.next_handle)
		return ENOENT;
	kern.destroyed = handle->data;
	kern.live--;
	return 0;
}

static int kern_command(struct ib_uverbs_ioctl_hdr *hdr)
{
	if (hdr->length != sizeof(*hdr) + hdr->num_attrs * sizeof(hdr->attrs[0]))
		return bad_encoding("header length %u for %u attributes", hdr->length,
				    hdr->num_attrs);
	if (hdr->reserved1 || hdr->reserved2)
		return bad_encoding("reserved header fields set");
	/* Checked before anything else, so a probe changes nothing. */
	if (hdr->driver_id != kern.driver_id)
		return EINVAL;
	if (hdr->object_id == UVERBS_OBJECT_DEVICE &&
	    hdr->method_id == UVERBS_METHOD_QUERY_CONTEXT)
		return hdr->num_attrs ? bad_encoding("QUERY_CONTEXT with attributes") : 0;
	if (hdr->object_id == UVERBS_OBJECT_MR && hdr->method_id == UVERBS_METHOD_REG_DMABUF_MR)
		return kern_reg(hdr);
	if (hdr->object_id == UVERBS_OBJECT_MR && hdr->method_id == UVERBS_METHOD_MR_DESTROY)
		return kern_destroy(hdr);
	return bad_encoding("object %u method %u", hdr->object_id, hdr->method_id);
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	struct ib_uverbs_ioctl_hdr *hdr;
	va_list ap;
	int err;

	va_start(ap, request);
	hdr = va_arg(ap, void *);
	va_end(ap);
	if (fd != kern.cmd_fd || request != RDMA_VERBS_IOCTL)
		return __real_ioctl(fd, request, hdr);
	if (hdr->object_id == UVERBS_OBJECT_DEVICE &&
	    hdr->method_id == UVERBS_METHOD_QUERY_CONTEXT)
		kern.probes++;
	err = kern_command(hdr);
	if (!err)
		return 0;
	errno = err;
	return -1;
}

/* --- The fake provider: libibverbs' two MR calls --- */

static struct {
	unsigned int regs;	/* ibv_reg_dmabuf_mr() calls */
	int reg_err;		/* errno of the next one, 0: success */
	int dereg_err;		/* errno of the next ibv_dereg_mr(), 0: success */
	struct ibv_mr *last;	/* the last MR it made */
	struct ibv_mr *dereged;	/* the last MR ibv_dereg_mr() was given */
	unsigned int live;
} prov;

struct ibv_mr *__wrap_ibv_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset, size_t length,
					uint64_t iova, int fd, int access)
{
	struct ibv_mr *mr;

	(void)iova;
	(void)fd;
	(void)access;
	prov.regs++;
	if (prov.reg_err) {
		errno = prov.reg_err;
		return NULL;
	}
	mr = calloc(1, sizeof(*mr));
	*mr = (struct ibv_mr){ .context = pd->context, .pd = pd,
			       .addr = (void *)(uintptr_t)offset, .length = length,
			       .handle = 0x900 + prov.regs, .lkey = 0x3000 + prov.regs,
			       .rkey = 0x4000 + prov.regs };
	prov.last = mr;
	prov.live++;
	return mr;
}

int __wrap_ibv_dereg_mr(struct ibv_mr *mr)
{
	prov.dereged = mr;
	if (prov.dereg_err)
		return prov.dereg_err;
	free(mr);
	prov.live--;
	return 0;
}

/* --- Checks --- */

static struct ibv_context ctx;
static struct ibv_pd pd;
static int buf_fd;		/* a memfd: the "dma-buf" the fakes are given */

static bool encoded_well(const char *what)
{
	bool ok = tap_check(!kern.bad[0], what, "%s", kern.bad);

	kern.bad[0] = '\0';
	return ok;
}

/* @ret must be @err and the message must contain @words. */
static void check_fail(int ret, int err, const char *words, const char *what)
{
	tap_check(ret == err && strstr(p2pmr_last_error(), words), what,
		  "ret %d (want %d), message '%s' (want '%s')", ret, err, p2pmr_last_error(),
		  words);
}

static void check_raw_layer(void)
{
	struct p2pmr_mr_keys keys = { 0 };
	int ret;

	kern.driver_id = 7;
	ret = p2pmr_uverbs_reg_dmabuf_mr(kern.cmd_fd, PD_HANDLE, 0x1000, 0x2000, IOVA, buf_fd,
					 ACCESS, &keys);
	tap_check(!ret, "p2pmr_uverbs_reg_dmabuf_mr() registers through the fake kernel",
		  "%d: %s", ret, p2pmr_last_error());
	encoded_well("REG_DMABUF_MR: header, 9 attributes, their ids, lengths and flags as the kernel wants");
	tap_check(kern.reg.pd_handle == PD_HANDLE && kern.reg.offset == 0x1000 &&
		  kern.reg.length == 0x2000 && kern.reg.iova == IOVA &&
		  kern.reg.fd == (uint32_t)buf_fd && kern.reg.access == ACCESS,
		  "the PD handle, offset, length, iova, fd and access reach the kernel",
		  "pd %u offset 0x%llx length 0x%llx iova 0x%llx fd %u access 0x%llx",
		  kern.reg.pd_handle, (unsigned long long)kern.reg.offset,
		  (unsigned long long)kern.reg.length, (unsigned long long)kern.reg.iova,
		  kern.reg.fd, (unsigned long long)kern.reg.access);
	tap_check(keys.handle == kern.next_handle - 1 && keys.lkey == 0x1000 + keys.handle &&
		  keys.rkey == 0x2000 + keys.handle,
		  "the new MR's handle, lkey and rkey come back from the kernel",
		  "handle %u lkey 0x%x rkey 0x%x", keys.handle, keys.lkey, keys.rkey);
	tap_check(kern.probes == 8, "the driver id is found by QUERY_CONTEXT, ids 0 to 7",
		  "%u probes", kern.probes);

	ret = p2pmr_uverbs_dereg_mr(kern.cmd_fd, keys.handle);
	tap_check(!ret && kern.destroyed == keys.handle && !kern.live,
		  "p2pmr_uverbs_dereg_mr() destroys the MR by its handle", "%d, destroyed %u",
		  ret, kern.destroyed);
	encoded_well("MR_DESTROY: one IDR attribute, len 0");
	tap_check(kern.probes == 8, "the driver id is remembered for the command fd",
		  "%u probes", kern.probes);

	kern.driver_id = 3;	/* another device took the minor */
	ret = p2pmr_uverbs_reg_dmabuf_mr(kern.cmd_fd, PD_HANDLE, 0, 0x1000, 0, buf_fd,
					 IBV_ACCESS_LOCAL_WRITE, &keys);
	tap_check(!ret && kern.probes == 8 + 4,
		  "a stale driver id is probed again (0 to 3) and the command run again",
		  "%d, %u probes: %s", ret, kern.probes, p2pmr_last_error());
	p2pmr_uverbs_dereg_mr(kern.cmd_fd, keys.handle);

	ret = p2pmr_uverbs_reg_dmabuf_mr(kern.cmd_fd, PD_HANDLE, 0, 0x1000, 0, buf_fd,
					 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_RELAXED_ORDERING |
					 (1 << 21), &keys);
	tap_check(!ret && kern.reg.access == (IBV_ACCESS_LOCAL_WRITE |
					      IBV_ACCESS_RELAXED_ORDERING),
		  "optional access bits: relaxed ordering is passed on, the others dropped",
		  "%d, access 0x%llx", ret, (unsigned long long)kern.reg.access);
	p2pmr_uverbs_dereg_mr(kern.cmd_fd, keys.handle);

	check_fail(p2pmr_uverbs_dereg_mr(kern.cmd_fd, 999), ENOENT, "no MR with handle 999",
		   "destroying a handle the kernel does not know is ENOENT, named");
	encoded_well("every command so far was encoded as the kernel wants");
}

/* The kernel's errno of a refused registration, and its explanation. */
static void check_explained(int err, const char *words, const char *what)
{
	struct p2pmr_mr_keys keys;

	kern.reg_err = err;
	check_fail(p2pmr_uverbs_reg_dmabuf_mr(kern.cmd_fd, PD_HANDLE, 0, 0x1000, 0, buf_fd,
					      ACCESS, &keys),
		   err, words, what);
	kern.reg_err = 0;
}

static void check_messages(void)
{
	check_explained(ENODEV, "revoked or its device is gone",
			"the kernel's ENODEV: the dma-buf is revoked, says the message");
	check_explained(EACCES, "not open for writing",
			"the kernel's EACCES: write access to a read-only dma-buf");
	check_explained(ENOENT, "no such PD handle",
			"the kernel's ENOENT: no such PD handle in the context");
	check_explained(EOPNOTSUPP, "cannot register this dma-buf",
			"the kernel's EOPNOTSUPP: the driver cannot register it");
	check_explained(EPROTONOSUPPORT, "Linux 5.12",
			"the kernel's EPROTONOSUPPORT: no dma-buf MRs at all");
	check_explained(EINVAL, "is not a dma-buf fd",
			"the kernel's EINVAL, explained: the fd is not a dma-buf");
}

static struct p2pmr_mr *reg(void)
{
	return p2pmr_reg_dmabuf_mr(&pd, 0x1000, 0x4000, IOVA, buf_fd, ACCESS);
}

static void check_provider_path(void)
{
	unsigned int kern_regs = kern.regs;
	struct p2pmr_mr *mr;
	int ret;

	unsetenv("P2PMR_FORCE_UVERBS");
	mr = reg();
	if (!tap_check(mr != NULL, "the provider registers the MR", "%s", p2pmr_last_error()))
		return;
	tap_check(!p2pmr_mr_is_fallback(mr) && p2pmr_mr_ibv_mr(mr) == prov.last &&
		  kern.regs == kern_regs,
		  "its ibv_mr is the provider's, and the kernel method was not called",
		  "fallback %d, ibv_mr %p (provider's %p)", p2pmr_mr_is_fallback(mr),
		  (void *)p2pmr_mr_ibv_mr(mr), (void *)prov.last);
	tap_check(mr->pd == &pd && mr->iova == IOVA && mr->length == 0x4000 &&
		  mr->lkey == prov.last->lkey && mr->rkey == prov.last->rkey &&
		  mr->handle == prov.last->handle,
		  "the p2pmr_mr has the PD, the iova asked for, the length and the provider's keys",
		  "iova 0x%llx length 0x%llx lkey 0x%x", (unsigned long long)mr->iova,
		  (unsigned long long)mr->length, mr->lkey);
	tap_check(p2pmr_mr_ibv_mr(mr)->addr == (void *)0x1000,
		  "the provider's ibv_mr says addr = the dma-buf offset, as libibverbs sets it",
		  "%p", p2pmr_mr_ibv_mr(mr)->addr);

	prov.dereg_err = EBUSY;
	ret = p2pmr_dereg_mr(mr);
	tap_check(ret == EBUSY && p2pmr_mr_ibv_mr(mr) == prov.last && prov.live == 1,
		  "a failed ibv_dereg_mr() is p2pmr_dereg_mr()'s positive errno; the MR stays",
		  "%d, live %u", ret, prov.live);
	prov.dereg_err = 0;
	prov.dereged = NULL;
	ret = p2pmr_dereg_mr(mr);
	tap_check(!ret && prov.dereged == prov.last && !prov.live,
		  "p2pmr_dereg_mr() hands the provider its own ibv_mr, which it frees",
		  "%d, dereged %p, live %u", ret, (void *)prov.dereged, prov.live);
}

static void check_fallback_path(void)
{
	unsigned int prov_regs = prov.regs;
	struct p2pmr_mr *mr;
	int ret;

	prov.reg_err = EOPNOTSUPP;	/* rdma-core 44's rxe */
	prov.dereged = NULL;
	mr = reg();
	if (!tap_check(mr != NULL, "a provider without the op (EOPNOTSUPP): the kernel registers",
		       "%s", p2pmr_last_error()))
		return;
	tap_check(p2pmr_mr_is_fallback(mr) && !p2pmr_mr_ibv_mr(mr) && prov.regs == prov_regs + 1,
		  "the fallback MR has no ibv_mr: none that libibverbs did not make",
		  "fallback %d, ibv_mr %p", p2pmr_mr_is_fallback(mr), (void *)p2pmr_mr_ibv_mr(mr));
	tap_check(mr->pd == &pd && mr->iova == IOVA && mr->length == 0x4000 &&
		  mr->handle == kern.next_handle - 1 && mr->lkey == 0x1000 + mr->handle &&
		  mr->rkey == 0x2000 + mr->handle && kern.reg.iova == IOVA &&
		  kern.reg.offset == 0x1000 && kern.reg.pd_handle == PD_HANDLE,
		  "the kernel got the PD's handle, offset and iova; the MR has its keys",
		  "handle %u lkey 0x%x, kernel's iova 0x%llx", mr->handle, mr->lkey,
		  (unsigned long long)kern.reg.iova);

	kern.destroy_err = EBUSY;
	ret = p2pmr_dereg_mr(mr);
	tap_check(ret == EBUSY && kern.live == 1 && p2pmr_mr_is_fallback(mr),
		  "a refused MR_DESTROY is p2pmr_dereg_mr()'s EBUSY; the MR stays", "%d", ret);
	kern.destroy_err = 0;
	ret = p2pmr_dereg_mr(mr);
	tap_check(!ret && kern.destroyed == kern.next_handle - 1 && !kern.live && !prov.dereged,
		  "p2pmr_dereg_mr() destroys a fallback MR by handle, never through the provider",
		  "%d, provider given %p", ret, (void *)prov.dereged);

	setenv("P2PMR_FORCE_UVERBS", "1", 1);
	prov.reg_err = 0;
	prov_regs = prov.regs;
	mr = reg();
	tap_check(mr && p2pmr_mr_is_fallback(mr) && prov.regs == prov_regs,
		  "P2PMR_FORCE_UVERBS=1: the provider is not asked", "%s", p2pmr_last_error());
	if (mr)
		p2pmr_dereg_mr(mr);
	unsetenv("P2PMR_FORCE_UVERBS");
}

static void check_refusals(void)
{
	unsigned int kern_regs = kern.regs;
	struct p2pmr_mr *mr;

	prov.reg_err = EINVAL;
	errno = 0;
	mr = reg();
	tap_check(!mr && errno == EINVAL && kern.regs == kern_regs &&
		  strstr(p2pmr_last_error(), "is not a dma-buf fd"),
		  "the provider's EINVAL is NULL with errno EINVAL, explained, no fallback",
		  "%p, errno %d, '%s'", (void *)mr, errno, p2pmr_last_error());

	prov.reg_err = EOPNOTSUPP;
	kern.reg_err = EOPNOTSUPP;
	errno = 0;
	mr = reg();
	tap_check(!mr && errno == EOPNOTSUPP &&
		  strstr(p2pmr_last_error(), "the provider has no dma-buf MRs and the kernel refused"),
		  "neither provider nor kernel: EOPNOTSUPP that names both", "errno %d, '%s'",
		  errno, p2pmr_last_error());
	kern.reg_err = 0;
	prov.reg_err = 0;
}

int main(void)
{
	kern.cmd_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	kern.next_handle = 1;
	buf_fd = memfd_create("not-a-dmabuf", MFD_CLOEXEC);
	ctx.cmd_fd = kern.cmd_fd;
	pd.context = &ctx;
	pd.handle = PD_HANDLE;

	check_raw_layer();
	check_messages();
	check_provider_path();
	check_fallback_path();
	check_refusals();
	tap_check(!kern.live && !prov.live, "no MR is left in the kernel or the provider",
		  "kernel %u, provider %u", kern.live, prov.live);
	close(buf_fd);
	close(kern.cmd_fd);
	return tap_done();
}
