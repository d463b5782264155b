#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>

#include "lib/ipaddr.h"

enum bw_ip_literal
bw_ip_literal(const char *s)
{
	struct in6_addr	a6;
	struct in_addr	a4;

	if (!s)
		return BW_IP_NONE;
	if (inet_pton(AF_INET, s, &a4) == 1)
		return BW_IP_V4;
	if (inet_pton(AF_INET6, s, &a6) != 1)
		return BW_IP_NONE;
	if (IN6_IS_ADDR_V4MAPPED(&a6) || IN6_IS_ADDR_V4COMPAT(&a6))
		return BW_IP_V4_IN_V6;
	return BW_IP_V6;
}
