// SPDX-License-Identifier: MIT
/* Server addresses: literals of both families, names, brackets, refusals. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "sp_addr.h"
#include "tap.h"

int main(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char why[128], buf[64];
	int ret;

	ret = sp_addr_resolve("10.77.0.1", 7878, false, &ss, &len, why, sizeof(why));
	TAP_CHECK(ret == 0 && ss.ss_family == AF_INET && len == sizeof(struct sockaddr_in) &&
		  !strcmp(sp_addr_str(&ss, buf, sizeof(buf)), "10.77.0.1:7878"),
		  "IPv4 literal: %s", buf);
	ret = sp_addr_resolve("::1", 80, false, &ss, &len, why, sizeof(why));
	TAP_CHECK(ret == 0 && ss.ss_family == AF_INET6 &&
		  !strcmp(sp_addr_str(&ss, buf, sizeof(buf)), "[::1]:80"), "IPv6 literal: %s", buf);
	ret = sp_addr_resolve("[::1]", 80, false, &ss, &len, why, sizeof(why));
	TAP_CHECK(ret == 0 && ss.ss_family == AF_INET6 &&
		  !strcmp(sp_addr_host(&ss, buf, sizeof(buf)), "::1"), "bracketed IPv6: %s", buf);
	ret = sp_addr_resolve("localhost", 7878, true, &ss, &len, why, sizeof(why));
	TAP_CHECK(ret == 0 && ss.ss_family == AF_INET &&
		  !strcmp(sp_addr_host(&ss, buf, sizeof(buf)), "127.0.0.1"),
		  "a host name, IPv4 only: %s", buf);
	ret = sp_addr_resolve("::1", 80, true, &ss, &len, why, sizeof(why));
	TAP_CHECK(ret < 0 && strstr(why, "::1"), "IPv6 where only IPv4 goes: %s", why);
	ret = sp_addr_resolve("no-such-host.invalid", 80, false, &ss, &len, why, sizeof(why));
	TAP_CHECK(ret < 0 && strstr(why, "no-such-host.invalid"), "an unknown name: %s", why);
	ret = sp_addr_resolve("", 80, false, &ss, &len, why, sizeof(why));
	TAP_CHECK(ret == -EINVAL, "an empty host: %s", why);
	return tap_done();
}
