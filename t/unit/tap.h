
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the TAP output the C unit tests share, read by prove.
 */


#ifndef _TAP_H_INCLUDED_
#define _TAP_H_INCLUDED_


#include <stdarg.h>
#include <stdio.h>


static unsigned  test_n;
static unsigned  test_failed;


static void
ok(int cond, const char *fmt, ...)
{
    char     desc[256], *p;
    va_list  ap;

    test_n++;

    if (!cond) {
        test_failed++;
    }

    va_start(ap, fmt);
    vsnprintf(desc, sizeof(desc), fmt, ap);
    va_end(ap);

    /* TAP descriptions are one line; '#' would start a directive */

    printf("%s %u - ", cond ? "ok" : "not ok", test_n);

    for (p = desc; *p; p++) {
        if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f
            || *p == '#')
        {
            printf("\\x%02x", (unsigned char) *p);

        } else {
            putchar(*p);
        }
    }

    printf("\n");
    fflush(stdout);
}


/* a TAP comment line; inline: not every test prints one */

static inline void
diag(const char *fmt, ...)
{
    va_list  ap;

    printf("# ");

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);

    printf("\n");
}


#endif /* _TAP_H_INCLUDED_ */
