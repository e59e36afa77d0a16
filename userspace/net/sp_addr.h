/* SPDX-License-Identifier: MIT */
/*
 * Server addresses as users type them: an IPv4 or IPv6 literal ("::1",
 * "[::1]") or a host name, resolved once, before anything is sent.
 */
#ifndef SP_ADDR_H
#define SP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * host and port into *ss (*len its size): the first address getaddrinfo
 * gives, IPv4 only when v4_only (AF_XDP paths build IPv4 frames). 0, or
 * -EINVAL / -ENOENT / -EAFNOSUPPORT with why naming host.
 */
int sp_addr_resolve(const char *host, uint16_t port, bool v4_only,
		    struct sockaddr_storage *ss, socklen_t *len, char *why, size_t n);
/* The address without its port ("10.0.0.1", "::1"). */
const char *sp_addr_host(const struct sockaddr_storage *ss, char *buf, size_t len);
/* With its port ("10.0.0.1:7878", "[::1]:7878"). */
const char *sp_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len);

#endif
