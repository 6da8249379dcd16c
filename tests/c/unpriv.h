/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * For tests of what an unprivileged process can do with descriptors that
 * root opened: pass descriptors over a unix socket (SCM_RIGHTS) and drop
 * to nobody without capabilities. Functions return 0 or a negative errno
 * value and say what failed on stderr.
 */
#ifndef P2PMR_TEST_UNPRIV_H
#define P2PMR_TEST_UNPRIV_H

#define UNPRIV_UID	65534	/* nobody */
#define UNPRIV_GID	65534	/* nogroup */
#define UNPRIV_MAX_FDS	8

/* Send @n descriptors in one message; they stay open here. */
int fds_send(int sock, const int *fds, unsigned int n);
/* Receive @n descriptors sent by fds_send(); -EPIPE once the sender closed. */
int fds_recv(int sock, int *fds, unsigned int n);

/*
 * No supplementary groups, gid and uid nobody; checks that the effective,
 * permitted and ambient capability sets are empty afterwards.
 */
int unpriv_drop(void);

#endif /* P2PMR_TEST_UNPRIV_H */
