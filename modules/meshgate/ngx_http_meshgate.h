
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
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

    /* the caller's, called from ps, which outlives internal redirects */
    ngx_http_post_subrequest_t *post_subrequest;
    ngx_http_post_subrequest_t  ps;

    unsigned                    overflow:1; /* the body exceeded limit */
    unsigned                    error:1;    /* reading a file failed */
    unsigned                    done:1;     /* the last buffer was seen */
} ngx_http_meshgate_capture_t;


/*
 * Called right after ngx_http_subrequest(): keeps up to limit bytes of the
 * subrequest's body, across internal redirects of the subrequest too.  A
 * larger body sets overflow and is discarded, and the subrequest still
 * ends normally, so that the parent decides what a body too large means.
 * The subrequest's post_subrequest handler is still called; its
 * sr->post_subrequest is the capture's own from then on.
 */
ngx_http_meshgate_capture_t *ngx_http_meshgate_capture(ngx_http_request_t *sr,
    size_t limit);
ngx_int_t ngx_http_meshgate_capture_init(ngx_conf_t *cf);

/*
 * Outcomes the suite's modules report for metrics.  source names the
 * reporting module, name what the outcome concerns (a limit_redis zone, an
 * aggregate part; empty for auth_jwt) and outcome is one short word ("ok",
 * "missing", "rejected", "timeout"...).  Reporting costs one pointer test
 * when no module collects outcomes.
 */
typedef enum {
    NGX_HTTP_MESHGATE_AUTH_JWT = 0,
    NGX_HTTP_MESHGATE_LIMIT_REDIS,
    NGX_HTTP_MESHGATE_AGGREGATE,
    NGX_HTTP_MESHGATE_NSOURCES
} ngx_http_meshgate_source_e;

typedef void (*ngx_http_meshgate_report_pt)(ngx_http_request_t *r,
    ngx_uint_t source, ngx_str_t *name, ngx_str_t *outcome);

/*
 * A writer of metrics text: appends Prometheus exposition lines as buffers
 * to *ll (and moves *ll to the new last link); used by modules that keep
 * their own state, such as health checks, to join the metrics export.
 */
typedef ngx_int_t (*ngx_http_meshgate_export_pt)(ngx_http_request_t *r,
    ngx_chain_t ***ll, void *data);

typedef struct {
    ngx_http_meshgate_export_pt  handler;
    void                        *data;
} ngx_http_meshgate_exporter_t;

typedef struct {
    ngx_http_meshgate_report_pt  report;     /* NULL: nobody collects */
    ngx_array_t                  exporters;  /* ngx_http_meshgate_exporter_t */
    ngx_array_t                  setters;    /* ngx_module_t *, see below */
} ngx_http_meshgate_main_conf_t;


void ngx_http_meshgate_report(ngx_http_request_t *r,
    ngx_uint_t source, ngx_str_t *name, ngx_str_t *outcome);

/* the collector sets itself at configuration time (postconfiguration) */
void ngx_http_meshgate_set_reporter(ngx_conf_t *cf,
    ngx_http_meshgate_report_pt report);
ngx_int_t ngx_http_meshgate_add_exporter(ngx_conf_t *cf,
    ngx_http_meshgate_export_pt handler, void *data);
/* the registered writers, for the module that serves the export */
ngx_array_t *ngx_http_meshgate_exporters(ngx_http_request_t *r);

/*
 * Request variables set in the ACCESS phase (auth_jwt's $jwt_*), and the
 * modules that use them there (limit_redis's keys), which must then run
 * after the modules that set them.  Neither side names the other: the
 * setters tell the base module from their merge_loc_conf, which is called
 * for every level and location, nested, "if" and "limit_except" ones too,
 * and the users ask it per request.
 *
 * ngx_http_meshgate_access_sets_variables(): whether m's ACCESS handler
 * sets variables in this location.  A module calls it for every location,
 * so that the first call adds m to the modules that set variables.
 *
 * ngx_http_meshgate_access_variables(): whether a module sets variables
 * in the ACCESS phase of the request's location.
 *
 * ngx_http_meshgate_access_runs_after(), from postconfiguration: NGX_OK if
 * the ACCESS handlers m registers there run after those of every module
 * that sets variables, which is so when m comes before them in the
 * module's "config" (handlers of a phase run in the reverse order of
 * their registration); otherwise NGX_ERROR, with the reason logged.
 */
ngx_int_t ngx_http_meshgate_access_sets_variables(ngx_conf_t *cf,
    ngx_module_t *m, ngx_uint_t on);
ngx_uint_t ngx_http_meshgate_access_variables(ngx_http_request_t *r);
ngx_int_t ngx_http_meshgate_access_runs_after(ngx_conf_t *cf,
    ngx_module_t *m);

/*
 * A module's context of a request that outlives internal redirects
 * (error_page, try_files), which reset the contexts of all modules: it
 * is kept in a cleanup of the request's pool as well, which they leave
 * alone.
 *
 * ngx_http_meshgate_create_ctx(): a zeroed context of size bytes from the
 * request's pool, set as m's context.
 *
 * ngx_http_meshgate_keep_ctx(): the same for a context the module
 * allocated itself; handler (or NULL) is called with it when the
 * request's pool is destroyed.
 *
 * ngx_http_meshgate_get_ctx(): m's context, found again after an internal
 * redirect, or NULL.  A subrequest shares its main request's pool: one
 * without a context of its own gets the one last kept by any request of
 * that pool.  A module whose contexts belong to main requests only looks
 * them up in r->main.
 */
void *ngx_http_meshgate_create_ctx(ngx_http_request_t *r, ngx_module_t *m,
    size_t size);
ngx_int_t ngx_http_meshgate_keep_ctx(ngx_http_request_t *r, ngx_module_t *m,
    void *ctx, ngx_pool_cleanup_pt handler);
void *ngx_http_meshgate_get_ctx(ngx_http_request_t *r, ngx_module_t *m);

/* adds a module's variables, a table ended by ngx_http_null_variable */
ngx_int_t ngx_http_meshgate_register_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);

/*
 * Whether a non-blocking connect() of c succeeded, once its socket is
 * ready: NGX_OK, or NGX_ERROR with the error in *err.
 */
ngx_int_t ngx_http_meshgate_test_connect(ngx_connection_t *c, ngx_err_t *err);

/* an mg_allocator_t that takes memory from an nginx pool */
void ngx_http_meshgate_pool_allocator(mg_allocator_t *a, ngx_pool_t *pool);


#endif /* _NGX_HTTP_MESHGATE_H_INCLUDED_ */
