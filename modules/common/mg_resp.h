
/*
 * meshgate: the RESP encoding of Redis commands.
 *
 * A command is an array of binary-safe bulk strings,
 * "*<argc>\r\n" then "$<len>\r\n<bytes>\r\n" for each argument.  The
 * functions come in pairs: *_size() gives the exact number of bytes the
 * writer will produce, so that a caller can reserve room once (in a
 * connection's output buffer) and write without further checks.  Nothing
 * here allocates.
 */


#ifndef _MG_RESP_H_INCLUDED_
#define _MG_RESP_H_INCLUDED_


#include "mg_common.h"


/* "*<n>\r\n" */
size_t mg_resp_array_size(size_t n);
unsigned char *mg_resp_array(unsigned char *dst, size_t n);

/* "$<len>\r\n<data>\r\n"; the size is 0 if it does not fit in size_t */
size_t mg_resp_bulk_size(size_t len);
unsigned char *mg_resp_bulk(unsigned char *dst, const unsigned char *data,
    size_t len);

/*
 * A whole command; the size is 0 if it does not fit in size_t (no real
 * command is that large, a valid encoding is never empty).  The writers
 * return the end of what they wrote.
 */
size_t mg_resp_command_size(size_t argc, const mg_str_t *argv);
unsigned char *mg_resp_command(unsigned char *dst, size_t argc,
    const mg_str_t *argv);


#endif /* _MG_RESP_H_INCLUDED_ */
