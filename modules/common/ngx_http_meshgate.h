
/*
 * meshgate: helpers the suite's nginx modules share.
 */


#ifndef _NGX_HTTP_MESHGATE_H_INCLUDED_
#define _NGX_HTTP_MESHGATE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mg_common.h"


/* an mg_allocator_t that takes memory from an nginx pool */
void ngx_http_meshgate_pool_allocator(mg_allocator_t *a, ngx_pool_t *pool);


#endif /* _NGX_HTTP_MESHGATE_H_INCLUDED_ */
