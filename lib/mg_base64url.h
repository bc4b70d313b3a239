
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: strict base64url (RFC 4648 section 5) as JWS uses it
 * (RFC 7515 section 2): no padding, no white space, no other alphabet,
 * and the unused low bits of the last character must be zero, so that
 * every value has exactly one encoding.
 */


#ifndef _MG_BASE64URL_H_INCLUDED_
#define _MG_BASE64URL_H_INCLUDED_


#include "mg_common.h"


/* enough room for the decoded form of len characters */
#define mg_base64url_decoded_size(len)  ((((len) + 3) / 4) * 3)
#define mg_base64url_encoded_size(len)  ((((len) + 2) / 3) * 4)


/* returns 0 and sets *dst_len, or -1 on any malformed input */
int mg_base64url_decode(unsigned char *dst, size_t *dst_len,
    const unsigned char *src, size_t len);

/* returns the encoded length; dst needs mg_base64url_encoded_size(len) */
size_t mg_base64url_encode(unsigned char *dst, const unsigned char *src,
    size_t len);


#endif /* _MG_BASE64URL_H_INCLUDED_ */
