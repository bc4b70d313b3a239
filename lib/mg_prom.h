
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: pieces of the Prometheus text exposition format (0.0.4) that
 * the metrics module writes, free of nginx so that they can be unit-tested
 * and fuzzed.
 *
 * Label values come from requests (a route built from variables, a method
 * name, an upstream host), so they are untrusted bytes: the format wants
 * UTF-8 with backslash, double quote and line feed escaped, and a scraper
 * rejects the whole exposition for one bad byte.
 */


#ifndef _MG_PROM_H_INCLUDED_
#define _MG_PROM_H_INCLUDED_


#include "mg_common.h"


/* what mg_prom_escape() writes at most for len input bytes */
#define MG_PROM_ESCAPED_LEN(len)  (3 * (len))

/* what mg_prom_format_seconds() writes at most */
#define MG_PROM_SECONDS_LEN       24

/* the largest number of seconds mg_prom_parse_seconds() accepts */
#define MG_PROM_MAX_SECONDS       1000000000


/*
 * Writes the label value text of len bytes at src into dst, which has room
 * for MG_PROM_ESCAPED_LEN(len) bytes: '\\', '"' and LF become "\\\\",
 * "\\\"" and "\\n", and every byte that is not part of a well-formed UTF-8
 * sequence (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF) becomes U+FFFD.  Returns the number of bytes written.
 */
size_t mg_prom_escape(unsigned char *dst, const unsigned char *src,
    size_t len);

/*
 * Parses a non-negative number of seconds ("10", "2.5", ".005", "0.250")
 * into milliseconds.  Returns -1 for anything else: an empty string, a
 * sign, an exponent, a part finer than a millisecond ("0.0005"), more than
 * MG_PROM_MAX_SECONDS.
 */
int mg_prom_parse_seconds(const unsigned char *s, size_t len, uint64_t *ms);

/*
 * Writes milliseconds as seconds, the shortest way that reads back the
 * same: 5 -> "0.005", 250 -> "0.25", 1000 -> "1", 2500 -> "2.5".  Returns
 * the number of bytes written, at most MG_PROM_SECONDS_LEN.
 */
size_t mg_prom_format_seconds(unsigned char *dst, uint64_t ms);


#endif /* _MG_PROM_H_INCLUDED_ */
