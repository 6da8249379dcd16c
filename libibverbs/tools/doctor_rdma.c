// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr doctor: the RDMA device. Its PCI function (for the path check; a
 * software device such as rxe has none), whether it registers dma-buf MRs
 * (the provider's ibv_reg_dmabuf_mr() op, or the kernel method libp2pmr
 * falls back to), its ODP capabilities; and the locked-memory limit.
 *
 * Both registrations are probed with fd -1: a provider without the op
 * fails with EOPNOTSUPP in userspace, a kernel driver without dma-buf MRs
 * with EOPNOTSUPP before it looks at the fd; anything else (EBADF) means
 * the call got as far as the fd, so it is there. Nothing is registered.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <infiniband/verbs.h>

#include "p2pmr.h"
#include "doctor.h"
#include "sizes.h"

/* The first RDMA device in sysfs (sorted), for a fake root. */
static bool first_sysfs_dev(const struct doctor *d, char *buf, size_t len)
{
	char names[64][DS_NAME];

	if (!ds_list(d, names, 64, NULL, "/sys/class/infiniband"))
		return false;
	snprintf(buf, len, "%s", names[0]);
	return true;
}

static void odp_text(const struct ibv_device_attr_ex *attr, char *buf, size_t len)
{
	uint32_t rc = attr->odp_caps.per_transport_caps.rc_odp_caps;

	if (!(attr->odp_caps.general_caps & IBV_ODP_SUPPORT)) {
		snprintf(buf, len, "ODP: no");
		return;
	}
	snprintf(buf, len, "ODP: yes (RC:%s%s%s%s%s)",
		 rc & IBV_ODP_SUPPORT_SEND ? " send" : "", rc & IBV_ODP_SUPPORT_RECV ? " recv" : "",
		 rc & IBV_ODP_SUPPORT_WRITE ? " write" : "", rc & IBV_ODP_SUPPORT_READ ? " read" : "",
		 rc & IBV_ODP_SUPPORT_ATOMIC ? " atomic" : "");
}

/* The verbs probes on an open device. */
static void probe_verbs(struct doctor *d, struct ibv_context *ctx, const char *name)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	struct ibv_device_attr_ex attr = {};
	struct p2pmr_mr_keys keys;
	int provider_err, kernel_err;
	struct doctor_row *row;
	char odp[96] = "ODP: unknown";
	struct ibv_mr *mr;
	struct ibv_pd *pd;

	if (!ibv_query_device_ex(ctx, NULL, &attr))
		odp_text(&attr, odp, sizeof(odp));
	pd = ibv_alloc_pd(ctx);
	if (!pd) {
		row = doctor_add(d, "rdma", name, DOCTOR_FAIL, "ibv_alloc_pd() failed: %s",
				 strerror(errno));
		doctor_fix(row, "check the device with ibv_devinfo -d %s", name);
		return;
	}
	mr = ibv_reg_dmabuf_mr(pd, 0, 4096, 0, -1, access);
	provider_err = mr ? 0 : errno;
	if (mr)
		ibv_dereg_mr(mr);
	kernel_err = p2pmr_uverbs_reg_dmabuf_mr(ctx->cmd_fd, pd->handle, 0, 4096, 0, -1, access,
						&keys);
	if (!kernel_err)
		p2pmr_uverbs_dereg_mr(ctx->cmd_fd, keys.handle);
	ibv_dealloc_pd(pd);
	if (provider_err != EOPNOTSUPP) {
		doctor_add(d, "rdma", name, DOCTOR_OK,
			   "dma-buf MRs: the provider's ibv_reg_dmabuf_mr() op reaches the kernel; %s",
			   odp);
		return;
	}
	if (kernel_err != EOPNOTSUPP) {
		doctor_add(d, "rdma", name, DOCTOR_OK,
			   "dma-buf MRs: through the kernel method (p2pmr_uverbs_reg_dmabuf_mr(); this rdma-core's provider lacks the ibv_reg_dmabuf_mr() op); %s",
			   odp);
		return;
	}
	row = doctor_add(d, "rdma", name, DOCTOR_FAIL,
			 "dma-buf MRs: no (ibv_reg_dmabuf_mr() and the kernel method both EOPNOTSUPP: the kernel driver of %s does not register dma-bufs); %s",
			 name, odp);
	doctor_fix(row,
		   "use a device whose kernel driver has dma-buf MRs (mlx5, efa, ...); for rxe, install the p2pmr kernel");
}

/* The PCI function of RDMA device @name, into @nic ("" for none). */
static void rdma_pci_function(struct doctor *d, const char *name, char *nic, size_t len)
{
	char link[64] = "";

	nic[0] = '\0';
	if (!ds_link_name(d, link, sizeof(link), "/sys/class/infiniband/%s/device", name) &&
	    ds_is_pci_addr(link))
		snprintf(nic, len, "%s", link);
}

void doctor_check_rdma(struct doctor *d, char *nic, char *why, size_t len)
{
	struct ibv_device **list = NULL;
	struct ibv_context *ctx = NULL;
	struct doctor_row *row;
	char name[64] = "";
	bool found = false;
	int i, n = 0;

	nic[0] = '\0';
	snprintf(why, len, "no RDMA device");
	if (d->ib_dev)
		snprintf(name, sizeof(name), "%s", d->ib_dev);
	if (!d->fake_root) {
		list = ibv_get_device_list(&n);
		for (i = 0; list && i < n && !ctx; i++) {
			if (!name[0] || !strcmp(name, ibv_get_device_name(list[i]))) {
				found = true;
				snprintf(name, sizeof(name), "%s", ibv_get_device_name(list[i]));
				ctx = ibv_open_device(list[i]);
				if (!ctx) {
					row = doctor_add(d, "rdma", name, DOCTOR_FAIL,
							 "cannot open it: %s", strerror(errno));
					doctor_fix(row, "check /dev/infiniband/uverbs* permissions");
					break;
				}
			}
		}
		if (list)
			ibv_free_device_list(list);
	} else if (!name[0]) {
		first_sysfs_dev(d, name, sizeof(name));
	}
	if (!d->fake_root && !found) {
		row = doctor_add(d, "rdma", name[0] ? name : "-", DOCTOR_FAIL, "%s",
				 name[0] ? "no such RDMA device" : "no RDMA device");
		doctor_fix(row,
			   "load the NIC's driver (ibv_devices lists what libibverbs sees); for soft-RoCE: rdma link add rxe0 type rxe netdev <netdev>");
		return;
	}
	if (d->fake_root && !ds_exists(d, "/sys/class/infiniband/%s", name)) {
		row = doctor_add(d, "rdma", name[0] ? name : "-", DOCTOR_FAIL, "%s",
				 name[0] ? "no such RDMA device" : "no RDMA device");
		doctor_fix(row, "load the NIC's driver (ibv_devices lists what libibverbs sees)");
		return;
	}
	rdma_pci_function(d, name, nic, len);
	if (ctx) {
		probe_verbs(d, ctx, name);
		ibv_close_device(ctx);
	} else if (d->fake_root) {
		doctor_add(d, "rdma", name, DOCTOR_NA,
			   "dma-buf MRs not probed (P2PMR_DOCTOR_ROOT is set)");
	}
	if (!nic[0])
		snprintf(why, len,
			 "%s has no PCI function (a software RDMA device, such as rxe or siw): the PCI path check does not apply",
			 name);
}

/* Set in CapEff: the process may lock any amount of memory. */
static bool has_ipc_lock(void)
{
	char line[256];
	uint64_t caps = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			caps = strtoull(line + 7, NULL, 16);
	fclose(f);
	return caps & (1ULL << 14);	/* CAP_IPC_LOCK */
}

void doctor_check_memlock(struct doctor *d)
{
	struct doctor_row *row;
	struct rlimit rl;
	char size[32];

	if (getrlimit(RLIMIT_MEMLOCK, &rl)) {
		doctor_add(d, "memlock", "process", DOCTOR_WARN, "getrlimit(): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		snprintf(size, sizeof(size), "unlimited");
	else
		format_size(rl.rlim_cur, size, sizeof(size));
	if (rl.rlim_cur == RLIM_INFINITY || has_ipc_lock()) {
		doctor_add(d, "memlock", "process", DOCTOR_OK, "RLIMIT_MEMLOCK %s%s", size,
			   rl.rlim_cur == RLIM_INFINITY ? "" :
			   " (not enforced: the process has CAP_IPC_LOCK)");
		return;
	}
	if (rl.rlim_cur < (64ULL << 20)) {
		row = doctor_add(d, "memlock", "process", DOCTOR_WARN,
				 "RLIMIT_MEMLOCK %s: a BAR dma-buf MR pins no host memory, but queues and host-memory MRs count against it",
				 size);
		doctor_fix(row,
			   "ulimit -l unlimited (lasting: a memlock line in /etc/security/limits.conf, or LimitMEMLOCK= in a systemd unit)");
		return;
	}
	doctor_add(d, "memlock", "process", DOCTOR_OK, "RLIMIT_MEMLOCK %s", size);
}
