
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: definitions shared by the nginx-free parsers.
 *
 * Files named mg_*.c never include nginx headers, so that they can be
 * compiled alone into fuzz harnesses and unit tests.  Memory they hand out
 * comes from a caller-supplied allocator (an nginx pool in the modules,
 * malloc in the harnesses), so nothing here ever needs to be freed, except
 * where a header says so (OpenSSL objects).
 */


#ifndef _MG_COMMON_H_INCLUDED_
#define _MG_COMMON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>


typedef struct {
    const unsigned char  *data;
    size_t                len;
} mg_str_t;


/* returns memory aligned for any type, or NULL */
typedef void *(*mg_alloc_pt)(void *data, size_t size);


typedef struct {
    mg_alloc_pt           alloc;
    void                 *data;
} mg_allocator_t;


#define mg_alloc(a, size)  (a)->alloc((a)->data, size)
#define mg_string(s)       { (const unsigned char *) s, sizeof(s) - 1 }


#endif /* _MG_COMMON_H_INCLUDED_ */
