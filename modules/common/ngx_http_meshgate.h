
/*
 * meshgate: helpers the suite's nginx modules share.
 */


#ifndef _NGX_HTTP_MESHGATE_H_INCLUDED_
#define _NGX_HTTP_MESHGATE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mg_common.h"


extern ngx_module_t  ngx_http_meshgate_module;


/*
 * The body of a subrequest kept in memory for its parent (a key set, a part
 * of an aggregated answer) instead of being sent anywhere.
 */
typedef struct {
    u_char                     *data;
    size_t                      len;
    size_t                      size;       /* allocated */
    size_t                      limit;

    unsigned                    overflow:1; /* the body exceeded limit */
    unsigned                    error:1;    /* reading a file failed */
    unsigned                    done:1;     /* the last buffer was seen */
} ngx_http_meshgate_capture_t;


/*
 * Called right after ngx_http_subrequest(): keeps up to limit bytes of the
 * subrequest's body.  A larger body sets overflow and is discarded, and the
 * subrequest still ends normally, so that the parent decides what a body
 * too large means.
 */
ngx_http_meshgate_capture_t *ngx_http_meshgate_capture(ngx_http_request_t *sr,
    size_t limit);
ngx_int_t ngx_http_meshgate_capture_init(ngx_conf_t *cf);

/* adds a module's variables, a table ended by ngx_http_null_variable */
ngx_int_t ngx_http_meshgate_register_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);

/* an mg_allocator_t that takes memory from an nginx pool */
void ngx_http_meshgate_pool_allocator(mg_allocator_t *a, ngx_pool_t *pool);


#endif /* _NGX_HTTP_MESHGATE_H_INCLUDED_ */
