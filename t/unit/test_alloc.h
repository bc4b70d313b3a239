
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate unit tests: an allocator for the nginx-free parsers that keeps
 * every block until test_free_all(), the way a request pool does, and
 * that fails on demand (test_fail_alloc) to test what a parser does when
 * memory runs out.
 */


#ifndef _TEST_ALLOC_H_INCLUDED_
#define _TEST_ALLOC_H_INCLUDED_


#include <stdlib.h>

#include "mg_common.h"


typedef struct test_block_s  test_block_t;

/* what malloc() aligns for, without C11's max_align_t */
typedef union {
    long double           ld;
    long long             ll;
    void                 *p;
} test_align_t;

struct test_block_s {
    test_block_t         *next;
    test_align_t          data[];
};


static test_block_t  *test_blocks;
static int            test_fail_alloc;


static inline void *
test_alloc(void *data, size_t size)
{
    test_block_t  *b;

    if (test_fail_alloc) {
        return NULL;
    }

    b = malloc(sizeof(test_block_t) + size);
    if (b == NULL) {
        abort();
    }

    b->next = test_blocks;
    test_blocks = b;

    return b->data;
}


static inline void
test_free_all(void)
{
    test_block_t  *b;

    while (test_blocks) {
        b = test_blocks;
        test_blocks = b->next;
        free(b);
    }
}


static mg_allocator_t  test_allocator = { test_alloc, NULL };


#endif /* _TEST_ALLOC_H_INCLUDED_ */
