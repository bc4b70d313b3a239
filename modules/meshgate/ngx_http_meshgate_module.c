
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the suite's base module.  It gives the shared object its name,
 * exposes $meshgate_version and keeps subrequest bodies in memory for the
 * other modules (ngx_http_meshgate_capture.c).  It also carries, per
 * configuration, the link between the modules that report outcomes and the
 * module that counts them, and between the modules that set variables in
 * the ACCESS phase and those that use them there, so that neither side
 * depends on the other being configured, or includes its header.  The
 * other modules of the suite are independent nginx modules that live in
 * the same object.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_meshgate.h"


#define NGX_HTTP_MESHGATE_VERSION  "0.1.0"


typedef struct {
    /* a module sets variables in this location's ACCESS phase */
    ngx_uint_t                   access_variables;
} ngx_http_meshgate_loc_conf_t;


/* a context kept in a pool cleanup (ngx_http_meshgate_keep_ctx()) */

typedef struct {
    ngx_module_t                *module;
    void                        *ctx;
    ngx_pool_cleanup_pt          handler;
} ngx_http_meshgate_kept_ctx_t;


/* the offset of a context in the cleanup data of create_ctx() */
#define NGX_HTTP_MESHGATE_KEPT_CTX_SIZE                                       \
    ngx_align(sizeof(ngx_http_meshgate_kept_ctx_t), NGX_ALIGNMENT)


static ngx_int_t ngx_http_meshgate_version_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_meshgate_add_variables(ngx_conf_t *cf);
static void *ngx_http_meshgate_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_meshgate_create_loc_conf(ngx_conf_t *cf);
static void ngx_http_meshgate_ctx_cleanup(void *data);
static void *ngx_http_meshgate_palloc(void *data, size_t size);


static ngx_http_module_t  ngx_http_meshgate_module_ctx = {
    ngx_http_meshgate_add_variables,       /* preconfiguration */
    ngx_http_meshgate_capture_init,        /* postconfiguration */

    ngx_http_meshgate_create_main_conf,    /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_meshgate_create_loc_conf,     /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_meshgate_module = {
    NGX_MODULE_V1,
    &ngx_http_meshgate_module_ctx,         /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_meshgate_vars[] = {

    { ngx_string("meshgate_version"), NULL,
      ngx_http_meshgate_version_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_meshgate_version_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    v->len = sizeof(NGX_HTTP_MESHGATE_VERSION) - 1;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) NGX_HTTP_MESHGATE_VERSION;

    return NGX_OK;
}


void
ngx_http_meshgate_report(ngx_http_request_t *r, ngx_uint_t source,
    ngx_str_t *name, ngx_str_t *outcome)
{
    ngx_http_meshgate_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_meshgate_module);

    if (mmcf->report) {
        mmcf->report(r, source, name, outcome);
    }
}


void
ngx_http_meshgate_set_reporter(ngx_conf_t *cf,
    ngx_http_meshgate_report_pt report)
{
    ngx_http_meshgate_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_meshgate_module);
    mmcf->report = report;
}


ngx_int_t
ngx_http_meshgate_add_exporter(ngx_conf_t *cf,
    ngx_http_meshgate_export_pt handler, void *data)
{
    ngx_http_meshgate_exporter_t   *e;
    ngx_http_meshgate_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_meshgate_module);

    e = ngx_array_push(&mmcf->exporters);
    if (e == NULL) {
        return NGX_ERROR;
    }

    e->handler = handler;
    e->data = data;

    return NGX_OK;
}


ngx_array_t *
ngx_http_meshgate_exporters(ngx_http_request_t *r)
{
    ngx_http_meshgate_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_meshgate_module);

    return &mmcf->exporters;
}


static void *
ngx_http_meshgate_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_meshgate_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_meshgate_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mmcf->exporters, cf->pool, 2,
                       sizeof(ngx_http_meshgate_exporter_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&mmcf->setters, cf->pool, 1, sizeof(ngx_module_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return mmcf;
}


static void *
ngx_http_meshgate_create_loc_conf(ngx_conf_t *cf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     conf->access_variables = 0;
     */

    return ngx_pcalloc(cf->pool, sizeof(ngx_http_meshgate_loc_conf_t));
}


/*
 * Called from a setter's merge_loc_conf for every location: nginx merges
 * the locations of one module after another, so a module that uses the
 * variables (and comes before the setters) cannot see this while it
 * merges; it asks at request time, ngx_http_meshgate_access_variables().
 */

ngx_int_t
ngx_http_meshgate_access_sets_variables(ngx_conf_t *cf, ngx_module_t *m,
    ngx_uint_t on)
{
    ngx_uint_t                      i;
    ngx_module_t                  **setter;
    ngx_http_meshgate_loc_conf_t   *mlcf;
    ngx_http_meshgate_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_meshgate_module);

    setter = mmcf->setters.elts;

    for (i = 0; i < mmcf->setters.nelts; i++) {
        if (setter[i] == m) {
            break;
        }
    }

    if (i == mmcf->setters.nelts) {
        setter = ngx_array_push(&mmcf->setters);
        if (setter == NULL) {
            return NGX_ERROR;
        }

        *setter = m;
    }

    if (!on) {
        return NGX_OK;
    }

    mlcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_meshgate_module);

    mlcf->access_variables = 1;

    return NGX_OK;
}


ngx_uint_t
ngx_http_meshgate_access_variables(ngx_http_request_t *r)
{
    ngx_http_meshgate_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_meshgate_module);

    return mlcf->access_variables;
}


ngx_int_t
ngx_http_meshgate_access_runs_after(ngx_conf_t *cf, ngx_module_t *m)
{
    ngx_uint_t                      i, j;
    ngx_module_t                  **setter, *module;
    ngx_http_meshgate_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_meshgate_module);

    setter = mmcf->setters.elts;

    /*
     * Modules register their phase handlers in the order of the cycle's
     * modules, which for dynamic modules is not always that of their
     * indexes: m must come before every module that sets variables.
     */

    for (i = 0; cf->cycle->modules[i]; i++) {
        module = cf->cycle->modules[i];

        if (module == m) {
            return NGX_OK;
        }

        for (j = 0; j < mmcf->setters.nelts; j++) {
            if (setter[j] == module) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "%s must be listed before %s in the module's "
                              "\"config\", so that its ACCESS handler runs "
                              "after that one, which sets variables",
                              m->name, module->name);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


void *
ngx_http_meshgate_create_ctx(ngx_http_request_t *r, ngx_module_t *m,
    size_t size)
{
    void                          *ctx;
    ngx_pool_cleanup_t            *cln;
    ngx_http_meshgate_kept_ctx_t  *kept;

    /* one allocation: the cleanup's data, then the context */

    cln = ngx_pool_cleanup_add(r->pool,
                               NGX_HTTP_MESHGATE_KEPT_CTX_SIZE + size);
    if (cln == NULL) {
        return NULL;
    }

    kept = cln->data;
    ctx = (u_char *) kept + NGX_HTTP_MESHGATE_KEPT_CTX_SIZE;

    ngx_memzero(ctx, size);

    kept->module = m;
    kept->ctx = ctx;
    kept->handler = NULL;

    cln->handler = ngx_http_meshgate_ctx_cleanup;

    r->ctx[m->ctx_index] = ctx;

    return ctx;
}


ngx_int_t
ngx_http_meshgate_keep_ctx(ngx_http_request_t *r, ngx_module_t *m,
    void *ctx, ngx_pool_cleanup_pt handler)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_meshgate_kept_ctx_t  *kept;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_meshgate_kept_ctx_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    kept = cln->data;

    kept->module = m;
    kept->ctx = ctx;
    kept->handler = handler;

    cln->handler = ngx_http_meshgate_ctx_cleanup;

    r->ctx[m->ctx_index] = ctx;

    return NGX_OK;
}


void *
ngx_http_meshgate_get_ctx(ngx_http_request_t *r, ngx_module_t *m)
{
    void                          *ctx;
    ngx_pool_cleanup_t            *cln;
    ngx_http_meshgate_kept_ctx_t  *kept;

    ctx = r->ctx[m->ctx_index];

    /* only internal redirects and filter finalization reset contexts */

    if (ctx || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {

        if (cln->handler != ngx_http_meshgate_ctx_cleanup) {
            continue;
        }

        kept = cln->data;

        if (kept->module == m) {
            r->ctx[m->ctx_index] = kept->ctx;
            return kept->ctx;
        }
    }

    return NULL;
}


static void
ngx_http_meshgate_ctx_cleanup(void *data)
{
    ngx_http_meshgate_kept_ctx_t  *kept = data;

    /* the cleanup marks the context; only the module's own frees it */

    if (kept->handler) {
        kept->handler(kept->ctx);
    }
}


static ngx_int_t
ngx_http_meshgate_add_variables(ngx_conf_t *cf)
{
    return ngx_http_meshgate_register_variables(cf, ngx_http_meshgate_vars);
}


void
ngx_http_meshgate_pool_allocator(mg_allocator_t *a, ngx_pool_t *pool)
{
    a->alloc = ngx_http_meshgate_palloc;
    a->data = pool;
}


static void *
ngx_http_meshgate_palloc(void *data, size_t size)
{
    return ngx_palloc(data, size);
}


ngx_int_t
ngx_http_meshgate_register_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_meshgate_test_connect(ngx_connection_t *c, ngx_err_t *err)
{
    int        e;
    socklen_t  len;

#if (NGX_HAVE_KQUEUE)

    if (ngx_event_flags & NGX_USE_KQUEUE_EVENT) {
        if (c->write->pending_eof || c->read->pending_eof) {
            *err = c->write->pending_eof ? c->write->kq_errno
                                         : c->read->kq_errno;
            return NGX_ERROR;
        }

        return NGX_OK;
    }

#endif

    e = 0;
    len = sizeof(int);

    /* a failed non-blocking connect() leaves its error on the socket */

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &e, &len) == -1) {
        e = ngx_socket_errno;
    }

    if (e) {
        *err = e;
        return NGX_ERROR;
    }

    return NGX_OK;
}
