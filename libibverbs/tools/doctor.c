// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr doctor [PCI ...] [--bar N] [--ib-dev DEV] [--peer PCI] [--json]:
 * will RDMA into a BAR of these devices work on this machine? Runs the
 * checks of the doctor_*.c files, prints a verdict per check with the fix,
 * as a table or as JSON; exit status 0 when nothing failed (warnings
 * allowed), 1 when a check failed, 2 for bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"
#include "rdma_opts.h"
#include "sizes.h"

void doctor_usage(FILE *out)
{
	fprintf(out,
		"usage: p2pmr doctor [PCI ...] [--bar N] [-d|--ib-dev DEV] [--peer PCI] [--json]\n"
		"  will RDMA into a BAR of the PCI devices work here? One verdict per check\n"
		"  (ok, warn, fail, n/a) with the fix: the kernel's VFIO dma-buf export, the\n"
		"  IOMMU, each device's binding, access and BARs, the RDMA device's dma-buf\n"
		"  MRs, the PCI path from the NIC to each device, the locked-memory limit.\n"
		"  --bar N          check BAR N only (default: every BAR)\n"
		"  -d, --ib-dev DEV the RDMA device (default: the first)\n"
		"  --peer PCI       the NIC's PCI function for the path check (default: that\n"
		"                   of the RDMA device; a software device such as rxe has none)\n"
		"  --json           machine-readable output\n"
		"  Exit status: 0 if RDMA into the BAR will work (warnings allowed), 1 if a\n"
		"  check failed, 2 for bad usage. P2PMR_DOCTOR_ROOT=DIR reads /sys, /proc,\n"
		"  /dev and /boot below DIR (for tests) and calls nothing in the kernel.\n");
}

const char *doctor_verdict_name(enum doctor_verdict v)
{
	static const char *const names[] = { "ok", "warn", "fail", "n/a" };

	return names[v];
}

struct doctor_row *doctor_add(struct doctor *d, const char *check, const char *subject,
			      enum doctor_verdict v, const char *fmt, ...)
{
	static struct doctor_row overflow;
	struct doctor_row *row;
	va_list ap;

	if (d->nr_rows == DOCTOR_MAX_ROWS)
		row = &overflow;	/* more rows than any machine needs: dropped */
	else
		row = &d->rows[d->nr_rows++];
	memset(row, 0, sizeof(*row));
	row->check = check;
	snprintf(row->subject, sizeof(row->subject), "%s", subject);
	row->verdict = v;
	va_start(ap, fmt);
	vsnprintf(row->detail, sizeof(row->detail), fmt, ap);
	va_end(ap);
	return row;
}

void doctor_fix(struct doctor_row *row, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(row->fix, sizeof(row->fix), fmt, ap);
	va_end(ap);
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_json(const struct doctor *d, unsigned int failed, unsigned int warned)
{
	unsigned int i;

	printf("{\"works\": %s, \"failed\": %u, \"warnings\": %u, \"checks\": [",
	       failed ? "false" : "true", failed, warned);
	for (i = 0; i < d->nr_rows; i++) {
		const struct doctor_row *r = &d->rows[i];

		printf("%s\n  {\"check\": ", i ? "," : "");
		json_string(r->check);
		printf(", \"subject\": ");
		json_string(r->subject);
		printf(", \"verdict\": ");
		json_string(doctor_verdict_name(r->verdict));
		printf(", \"found\": ");
		json_string(r->detail);
		printf(", \"fix\": ");
		json_string(r->fix);
		putchar('}');
	}
	printf("\n]}\n");
}

static void print_table(const struct doctor *d, unsigned int failed, unsigned int warned)
{
	unsigned int i;

	printf("%-11s %-28s %-7s %s\n", "CHECK", "SUBJECT", "VERDICT", "FOUND");
	for (i = 0; i < d->nr_rows; i++) {
		const struct doctor_row *r = &d->rows[i];

		printf("%-11s %-28s %-7s %s\n", r->check, r->subject,
		       doctor_verdict_name(r->verdict), r->detail);
		if (r->fix[0])
			printf("%-11s %-28s %-7s fix: %s\n", "", "", "", r->fix);
	}
	if (failed)
		printf("verdict: RDMA into the BAR will NOT work here: %u check(s) failed, see their fix\n",
		       failed);
	else if (!d->nr_pci)
		printf("verdict: nothing failed%s; name the device (p2pmr doctor PCI) to check its binding, BARs and path\n",
		       warned ? " (see the warnings)" : "");
	else
		printf("verdict: RDMA into the BAR will work here%s\n",
		       warned ? " (see the warnings)" : "");
}

static int parse(struct doctor *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bar", required_argument, NULL, 'b' },
		RDMA_OPT_IB_DEV,
		{ "peer", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct rdma_opts ro;
	uint64_t v;
	int c;

	rdma_opts_init(&ro, NULL);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:d:p:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			doctor_usage(stdout);
			return 1;
		case 'b':
			if (parse_size(optarg, &v) || v > 5) {
				fprintf(stderr, "p2pmr doctor: bad --bar '%s' (a BAR from 0 to 5)\n", optarg);
				return 2;
			}
			d->bar = v;
			break;
		case 'd':
			if (rdma_opt(&ro, c, optarg, "p2pmr doctor"))
				return 2;
			d->ib_dev = ro.ib_dev;
			break;
		case 'p':
			if (!ds_is_pci_addr(optarg)) {
				fprintf(stderr,
					"p2pmr doctor: bad --peer '%s' (a PCI address DDDD:BB:SS.F, lower case)\n",
					optarg);
				return 2;
			}
			d->peer = optarg;
			break;
		case 'j':
			d->json = true;
			break;
		default:
			doctor_usage(stderr);
			return 2;
		}
	}
	for (; optind < argc; optind++) {
		if (d->nr_pci == DOCTOR_MAX_PCI) {
			fprintf(stderr, "p2pmr doctor: at most %d PCI devices\n", DOCTOR_MAX_PCI);
			return 2;
		}
		d->pci[d->nr_pci++] = argv[optind];
	}
	return 0;
}

int doctor_main(int argc, char **argv)
{
	char nic[DOCTOR_TEXT], why[DOCTOR_TEXT];
	unsigned int i, failed = 0, warned = 0;
	struct doctor *d;
	const char *root;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d) {
		fprintf(stderr, "p2pmr doctor: out of memory\n");
		return 1;
	}
	d->bar = -1;
	root = getenv("P2PMR_DOCTOR_ROOT");
	d->fake_root = root && root[0];
	d->root = d->fake_root ? root : "";
	ret = parse(d, argc, argv);
	if (ret) {
		free(d);
		return ret == 1 ? 0 : ret;
	}

	doctor_check_kernel(d);
	doctor_check_iommu(d);
	for (i = 0; i < d->nr_pci; i++)
		doctor_check_device(d, d->pci[i]);
	doctor_check_rdma(d, nic, why, sizeof(nic));
	if (d->peer) {
		snprintf(nic, sizeof(nic), "%s", d->peer);
		if (!ds_pci_exists(d, nic)) {
			struct doctor_row *row = doctor_add(d, "path", nic, DOCTOR_FAIL,
							    "--peer %s: no such PCI device", nic);

			doctor_fix(row, "name the NIC's PCI function as lspci -D shows it");
			nic[0] = '\0';
			snprintf(why, sizeof(why), "--peer names no PCI device");
		}
	}
	for (i = 0; i < d->nr_pci; i++)
		if (ds_pci_exists(d, d->pci[i]))
			doctor_check_path(d, nic[0] ? nic : NULL, why, d->pci[i]);
	doctor_check_memlock(d);

	for (i = 0; i < d->nr_rows; i++) {
		failed += d->rows[i].verdict == DOCTOR_FAIL;
		warned += d->rows[i].verdict == DOCTOR_WARN;
	}
	if (d->json)
		print_json(d, failed, warned);
	else
		print_table(d, failed, warned);
	free(d);
	return failed ? 1 : 0;
}
