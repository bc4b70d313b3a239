
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: helpers shared by the libFuzzer harnesses.
 *
 * Every harness is one translation unit of its own, so this header holds
 * static definitions rather than declarations; a harness leaves unused what
 * it does not need.  Its name does not match fuzz_*.c, so the Makefile does
 * not take it for a harness.
 *
 * fuzz_allocator is an mg_allocator_t for the parsers, which never free
 * what they take: it keeps every block in a list, and fuzz_free_all() frees
 * them all at the end of an input, as a pool is freed at the end of an
 * nginx request.
 */


#ifndef _FUZZ_H_INCLUDED_
#define _FUZZ_H_INCLUDED_


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mg_common.h"


/* an abort() makes libFuzzer stop and keep the input as a crash */

#define fuzz_assert(expr)                                                    \
    do {                                                                     \
        if (!(expr)) {                                                       \
            fprintf(stderr, "assertion failed at line %d: %s\n", __LINE__,   \
                    #expr);                                                  \
            abort();                                                         \
        }                                                                    \
    } while (0)


typedef union {
    long double           ld;
    long long             ll;
    void                 *p;
} fuzz_align_t;


typedef struct fuzz_block_s  fuzz_block_t;

struct fuzz_block_s {
    fuzz_block_t         *next;
    fuzz_align_t          data[];
};


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static inline void *fuzz_alloc(void *data, size_t size);


static fuzz_block_t    *fuzz_blocks;
static mg_allocator_t   fuzz_allocator = { fuzz_alloc, NULL };


/* returns memory aligned as malloc() aligns it, or NULL */

static inline void *
fuzz_alloc(void *data, size_t size)
{
    fuzz_block_t  *b;

    (void) data;

    b = malloc(sizeof(fuzz_block_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = fuzz_blocks;
    fuzz_blocks = b;

    return b->data;
}


static inline void
fuzz_free_all(void)
{
    fuzz_block_t  *b;

    while (fuzz_blocks) {
        b = fuzz_blocks;
        fuzz_blocks = b->next;
        free(b);
    }
}


/* malloc() for a harness's own buffers: it never returns NULL for size > 0 */

static inline void *
fuzz_malloc(size_t size)
{
    void  *p;

    p = malloc(size);

    if (p == NULL && size) {
        abort();
    }

    return p;
}


#endif /* _FUZZ_H_INCLUDED_ */
