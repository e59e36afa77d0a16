// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "sp_addr.h"

int sp_addr_resolve(const char *host, uint16_t port, bool v4_only,
		    struct sockaddr_storage *ss, socklen_t *len, char *why, size_t n)
{
	struct addrinfo hints = { .ai_family = v4_only ? AF_INET : AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM }, *res = NULL;
	char name[256], service[8];
	size_t hl = strlen(host);
	int ret;

	/* "[::1]", as in a URL */
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		if (hl - 2 >= sizeof(name))
			goto bad;
		memcpy(name, host + 1, hl - 2);
		name[hl - 2] = '\0';
	} else if (hl && hl < sizeof(name)) {
		memcpy(name, host, hl + 1);
	} else {
		goto bad;
	}
	snprintf(service, sizeof(service), "%u", port);
	ret = getaddrinfo(name, service, &hints, &res);
	if (ret || !res) {
		if (v4_only && ret == EAI_ADDRFAMILY)
			snprintf(why, n, "'%s' has no IPv4 address (this mode is IPv4 only)", host);
		else
			snprintf(why, n, "cannot resolve '%s': %s", host,
				 ret ? gai_strerror(ret) : "no address");
		if (res)
			freeaddrinfo(res);
		return ret == EAI_ADDRFAMILY || ret == EAI_FAMILY ? -EAFNOSUPPORT : -ENOENT;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
bad:
	snprintf(why, n, "'%s' is not an address or host name", host);
	return -EINVAL;
}

const char *sp_addr_host(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *a = ss->ss_family == AF_INET6 ?
		(const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
		(const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (!inet_ntop(ss->ss_family, a, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

const char *sp_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	uint16_t port = ntohs(ss->ss_family == AF_INET6 ?
			      ((const struct sockaddr_in6 *)ss)->sin6_port :
			      ((const struct sockaddr_in *)ss)->sin_port);

	sp_addr_host(ss, host, sizeof(host));
	snprintf(buf, len, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
	return buf;
}
