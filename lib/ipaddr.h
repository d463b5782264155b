/* Telling an IP address literal from a host name. */
#ifndef BW_IPADDR_H
#define BW_IPADDR_H

/* What kind of address literal a string is. */
enum bw_ip_literal {
	BW_IP_NONE = 0,		/* not a literal: a name, or nothing */
	BW_IP_V4,		/* dotted quad, as inet_pton(AF_INET) takes */
	BW_IP_V6,		/* IPv6, not an IPv4 address in IPv6 form */
	BW_IP_V4_IN_V6,		/* IPv4-mapped (::ffff:a.b.c.d) or
				 * -compatible (::a.b.c.d) IPv6 */
};

/* Classifies S (NULL is BW_IP_NONE) by inet_pton()'s grammar: callers
 * that take any literal test for != BW_IP_NONE, those that must refuse
 * an IPv4 address in IPv6 form (a certificate's 16-octet iPAddress
 * does not match a client that connects over IPv4) look for
 * BW_IP_V4_IN_V6. */
enum bw_ip_literal bw_ip_literal(const char *s);

#endif
