/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * p2pmr doctor: will RDMA into a BAR work on this machine, and if not, what
 * to change. Each doctor_*.c file is one group of checks; each check adds
 * rows (check, subject, verdict, what was found, the fix) to the report
 * that doctor.c prints as a table or as JSON.
 *
 * Everything the checks read from the system (/sys, /proc, /dev, /boot) is
 * read below a root directory: "/" normally, the environment variable
 * P2PMR_DOCTOR_ROOT when set (host tests feed fake trees). Calls into the
 * kernel (opening a VFIO device, verbs) are made only with the real root.
 */
#ifndef P2PMR_TOOL_DOCTOR_H
#define P2PMR_TOOL_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum doctor_verdict {
	DOCTOR_OK,
	DOCTOR_WARN,	/* works, but something deserves a look */
	DOCTOR_FAIL,	/* RDMA into the BAR will not work until fixed */
	DOCTOR_NA,	/* the check does not apply */
};

#define DOCTOR_TEXT 512
#define DOCTOR_MAX_ROWS 96
#define DOCTOR_MAX_PCI 16

struct doctor_row {
	const char *check;		/* "kernel", "iommu", "binding", ... */
	char subject[64];		/* a PCI address, an RDMA device, "system" */
	enum doctor_verdict verdict;
	char detail[DOCTOR_TEXT];	/* what was found */
	char fix[DOCTOR_TEXT];		/* what to do ("" when nothing) */
};

struct doctor {
	const char *root;		/* "" for the real system */
	bool fake_root;			/* P2PMR_DOCTOR_ROOT is set */
	const char *pci[DOCTOR_MAX_PCI];	/* the BAR devices */
	unsigned int nr_pci;
	int bar;			/* -1: every BAR */
	const char *ib_dev;		/* NULL: the first RDMA device */
	const char *peer;		/* the NIC's PCI function, overriding ib_dev's */
	bool json;
	struct doctor_row rows[DOCTOR_MAX_ROWS];
	unsigned int nr_rows;
};

/* doctor.c: add a row; doctor_fix() sets its fix. Both printf-like. */
struct doctor_row *doctor_add(struct doctor *d, const char *check, const char *subject,
			      enum doctor_verdict v, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void doctor_fix(struct doctor_row *row, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *doctor_verdict_name(enum doctor_verdict v);
int doctor_main(int argc, char **argv);
void doctor_usage(FILE *out);

/* doctor_sysfs.c: reading the system below d->root. */
int ds_path(const struct doctor *d, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int ds_read(const struct doctor *d, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int ds_read_u64(const struct doctor *d, uint64_t *val, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ds_link_name(const struct doctor *d, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool ds_exists(const struct doctor *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define DS_NAME 64
unsigned int ds_list(const struct doctor *d, char (*names)[DS_NAME], unsigned int max,
		     bool (*keep)(const char *name), const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
bool ds_is_pci_addr(const char *s);
bool ds_pci_exists(const struct doctor *d, const char *pci);

#define DS_MAX_CHAIN 16
/*
 * The path of a PCI function up to its host bridge: chain[0] is @pci, then
 * each upstream bridge; @host the host bridge's name ("pci0000:00").
 */
struct ds_pci_chain {
	char dev[DS_MAX_CHAIN][16];
	unsigned int len;
	char host[32];
};
int ds_pci_chain(const struct doctor *d, const char *pci, struct ds_pci_chain *chain);

/* One line of a device's sysfs "resource" file. */
struct ds_bar {
	uint64_t start, size;
	bool is_io, is_memory, is_prefetchable, is_64bit;
};
int ds_pci_bar(const struct doctor *d, const char *pci, unsigned int bar, struct ds_bar *out);

/* Checks, one group per file. */
void doctor_check_kernel(struct doctor *d);	/* doctor_kernel.c */
void doctor_check_iommu(struct doctor *d);	/* doctor_kernel.c */
void doctor_check_device(struct doctor *d, const char *pci);	/* doctor_device.c */
/* doctor_rdma.c: also the device's PCI function into @nic, or "" and @why. */
void doctor_check_rdma(struct doctor *d, char *nic, char *why, size_t len);
void doctor_check_memlock(struct doctor *d);	/* doctor_rdma.c */
void doctor_check_path(struct doctor *d, const char *nic_pci, const char *nic_why,
		       const char *pci);	/* doctor_path.c */

/* doctor_path.c, for tests and the path check. */
enum doctor_map_type {
	DOCTOR_MAP_BUS_ADDR,		/* PCI_P2PDMA_MAP_BUS_ADDR */
	DOCTOR_MAP_THRU_HOST_BRIDGE,	/* PCI_P2PDMA_MAP_THRU_HOST_BRIDGE */
	DOCTOR_MAP_NOT_SUPPORTED,	/* PCI_P2PDMA_MAP_NOT_SUPPORTED */
};

#endif /* P2PMR_TOOL_DOCTOR_H */
