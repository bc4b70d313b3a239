
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the traceparent header of W3C Trace Context Level 1, read and
 * written without nginx, so that the parser can be unit-tested and fuzzed.
 *
 *     traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
 *                  |  trace-id (16 bytes)              parent-id        |
 *                  version                             (8 bytes)  trace-flags
 *
 * Every field is lowercase hex.  Version ff is forbidden, and so are an
 * all-zero trace-id or parent-id.  Version 00 is exactly 55 characters.
 * A higher version may carry more after the flags: the first 55
 * characters are read as version 00 and must be followed by the end of
 * the value or by '-'; what follows is not looked at.
 */


#ifndef _MG_TRACEPARENT_H_INCLUDED_
#define _MG_TRACEPARENT_H_INCLUDED_


#include "mg_common.h"


#define MG_TRACEPARENT_LEN        55    /* a version 00 value */
#define MG_TRACE_ID_LEN           16    /* bytes; twice as many hex digits */
#define MG_SPAN_ID_LEN            8

/* the only flag version 00 defines; the others are sent as zero */
#define MG_TRACE_FLAG_SAMPLED     0x01


typedef struct {
    unsigned char      trace_id[MG_TRACE_ID_LEN];
    unsigned char      parent_id[MG_SPAN_ID_LEN];
    unsigned char      version;
    unsigned char      flags;      /* as received, all 8 bits */
} mg_traceparent_t;


/*
 * Reads one traceparent value.  Returns 0 and fills *tp when it is valid,
 * -1 otherwise, with *err (if err is not NULL) set to a short static
 * description of the first problem found ("trace-id is all zeros").
 */
int mg_traceparent_parse(const unsigned char *s, size_t len,
    mg_traceparent_t *tp, const char **err);

/*
 * Writes the version 00 value "00-<trace-id>-<span-id>-<flags>",
 * MG_TRACEPARENT_LEN characters, not terminated; returns the end.
 */
unsigned char *mg_traceparent_format(unsigned char *p,
    const unsigned char *trace_id, const unsigned char *span_id,
    unsigned flags);

/* lowercase hex of n bytes, 2 * n characters; returns the end */
unsigned char *mg_traceparent_hex(unsigned char *p, const unsigned char *src,
    size_t n);

/* 1 when the n bytes are all zero */
int mg_traceparent_zero(const unsigned char *id, size_t n);


#endif /* _MG_TRACEPARENT_H_INCLUDED_ */
