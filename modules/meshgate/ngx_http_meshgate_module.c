
/*
 * meshgate: the suite's base module.  It gives the shared object its name,
 * exposes $meshgate_version and keeps subrequest bodies in memory for the
 * other modules (ngx_http_meshgate_capture.c).  It also carries, per
 * configuration, the link between the modules that report outcomes and the
 * module that counts them, so that neither depends on the other being
 * configured.  The other modules of the
 * suite are independent nginx modules that live in the same object.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_meshgate.h"


#define NGX_HTTP_MESHGATE_VERSION  "0.1.0"


static ngx_int_t ngx_http_meshgate_version_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_meshgate_add_variables(ngx_conf_t *cf);
static void *ngx_http_meshgate_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_meshgate_palloc(void *data, size_t size);


static ngx_http_module_t  ngx_http_meshgate_module_ctx = {
    ngx_http_meshgate_add_variables,       /* preconfiguration */
    ngx_http_meshgate_capture_init,        /* postconfiguration */

    ngx_http_meshgate_create_main_conf,    /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
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

    return mmcf;
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
