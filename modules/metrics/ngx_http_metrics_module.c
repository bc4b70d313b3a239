
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: Prometheus metrics kept in a shared memory zone by every
 * worker, served in the text exposition format.
 */


#include "ngx_http_metrics_module.h"


static void *ngx_http_metrics_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_metrics_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_metrics_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_metrics_route_label(ngx_conf_t *cf,
    ngx_http_metrics_loc_conf_t *mlcf, ngx_str_t *value);
static char *ngx_http_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_metrics_route(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_metrics_buckets(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_metrics_export(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_shm_zone_t *ngx_http_metrics_use_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_str_t *name);
static ngx_int_t ngx_http_metrics_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_metrics_commands[] = {

    { ngx_string("metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
      ngx_http_metrics_zone,
      0,
      0,
      NULL },

    { ngx_string("metrics"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("metrics_route"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_metrics_route,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("metrics_buckets"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_metrics_buckets,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("metrics_export"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_metrics_export,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_metrics_init,                 /* postconfiguration */

    ngx_http_metrics_create_main_conf,     /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_metrics_create_loc_conf,      /* create location configuration */
    ngx_http_metrics_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_metrics_module_ctx,          /* module context */
    ngx_http_metrics_commands,             /* module directives */
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


/* Prometheus's client libraries' defaults: .005 .01 .025 ... 5 10 */

static ngx_http_metrics_buckets_t  ngx_http_metrics_default_buckets = {
    11, { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 }
};


static void *
ngx_http_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_metrics_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_metrics_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mmcf->refs, cf->pool, 4,
                       sizeof(ngx_http_metrics_ref_t))
        != NGX_OK)
    {
        return NULL;
    }

    return mmcf;
}


static void *
ngx_http_metrics_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_metrics_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mlcf->route = NULL;
     *     mlcf->route_label = { 0, NULL };
     *     mlcf->cache = NULL;
     *     mlcf->export = NULL;
     */

    mlcf->shm_zone = NGX_CONF_UNSET_PTR;
    mlcf->buckets = NGX_CONF_UNSET_PTR;

    return mlcf;
}


static char *
ngx_http_metrics_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_metrics_loc_conf_t *prev = parent;
    ngx_http_metrics_loc_conf_t *conf = child;

    char                      *rv;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_ptr_value(conf->shm_zone, prev->shm_zone, NULL);
    ngx_conf_merge_ptr_value(conf->buckets, prev->buckets,
                             &ngx_http_metrics_default_buckets);

    if (conf->route == NULL) {
        conf->route = prev->route;
    }

    if (conf->route == NULL) {
        /* the location's name, as nginx -T shows it; "" at server level */
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
        rv = ngx_http_metrics_route_label(cf, conf, &clcf->name);

    } else if (conf->route->lengths == NULL) {
        rv = ngx_http_metrics_route_label(cf, conf, &conf->route->value);

    } else {
        /* evaluated per request */
        rv = NGX_CONF_OK;
    }

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (conf->shm_zone && conf->cache == NULL) {
        conf->cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_metrics_cache_t));
        if (conf->cache == NULL) {
            return NGX_CONF_ERROR;
        }

        if (conf->route_label.data == NULL) {
            conf->cache->last = ngx_pcalloc(cf->pool,
                                        sizeof(ngx_http_metrics_last_route_t));
            if (conf->cache->last == NULL) {
                return NGX_CONF_ERROR;
            }
        }
    }

    return NGX_CONF_OK;
}


/* route="value", escaped, for routes without variables */

static char *
ngx_http_metrics_route_label(ngx_conf_t *cf,
    ngx_http_metrics_loc_conf_t *mlcf, ngx_str_t *value)
{
    u_char  *p;
    size_t   len;

    len = ngx_min(value->len, NGX_HTTP_METRICS_VALUE_LEN);

    p = ngx_pnalloc(cf->pool, sizeof("route=\"\"") - 1
                              + MG_PROM_ESCAPED_LEN(len));
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    mlcf->route_label.data = p;
    mlcf->route_label.len = ngx_http_metrics_label(p, "route", value->data,
                                                   len)
                            - p;

    return NGX_CONF_OK;
}


static char *
ngx_http_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ssize_t                   size;
    ngx_int_t                 max;
    ngx_str_t                *value, s;
    ngx_uint_t                i;
    ngx_shm_zone_t           *shm_zone;
    ngx_http_metrics_zone_t  *zone;

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty metrics zone name");
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "metrics zone \"%V\" is too small: %V, "
                           "at least %uzk", &value[1], &value[2],
                           8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    max = 0;

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_series=", 11) == 0) {

            s.data = value[i].data + 11;
            s.len = value[i].len - 11;

            max = ngx_atoi(s.data, s.len);

            if (max <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid max_series \"%V\", a positive "
                                   "number is expected", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &value[1], size,
                                     &ngx_http_metrics_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "metrics zone \"%V\" is already declared",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_metrics_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = shm_zone;
    zone->max_series = max;

    shm_zone->init = ngx_http_metrics_init_zone;
    shm_zone->data = zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_metrics_loc_conf_t *mlcf = conf;

    ngx_str_t                     *value;
    ngx_http_metrics_main_conf_t  *mmcf;

    if (mlcf->shm_zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        mlcf->shm_zone = NULL;
        return NGX_CONF_OK;
    }

    mlcf->shm_zone = ngx_http_metrics_use_zone(cf, cmd, &value[1]);
    if (mlcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_metrics_module);
    mmcf->counting = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_metrics_route(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_metrics_loc_conf_t *mlcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (mlcf->route != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty route label");
        return NGX_CONF_ERROR;
    }

    mlcf->route = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (mlcf->route == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = mlcf->route;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_metrics_buckets(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_metrics_loc_conf_t *mlcf = conf;

    uint64_t                     ms;
    ngx_str_t                   *value;
    ngx_uint_t                   i;
    ngx_http_metrics_buckets_t  *b;

    if (mlcf->buckets != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    if (cf->args->nelts - 1 > NGX_HTTP_METRICS_MAX_BOUNDS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many buckets, at most %d",
                           NGX_HTTP_METRICS_MAX_BOUNDS);
        return NGX_CONF_ERROR;
    }

    b = ngx_pcalloc(cf->pool, sizeof(ngx_http_metrics_buckets_t));
    if (b == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (mg_prom_parse_seconds(value[i].data, value[i].len, &ms) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid bucket \"%V\", seconds with at "
                               "most three decimals are expected",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (b->nbounds && ms <= b->bounds[b->nbounds - 1]) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "bucket \"%V\" is not larger than the one "
                               "before it", &value[i]);
            return NGX_CONF_ERROR;
        }

        b->bounds[b->nbounds++] = ms;
    }

    mlcf->buckets = b;

    return NGX_CONF_OK;
}


static char *
ngx_http_metrics_export(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_metrics_loc_conf_t *mlcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->export) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mlcf->export = ngx_http_metrics_use_zone(cf, cmd, &value[1]);
    if (mlcf->export == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_metrics_export_handler;

    return NGX_CONF_OK;
}


/*
 * A zone may be used before metrics_zone declares it; ngx_http_metrics_init
 * tells zones that are never declared.
 */

static ngx_shm_zone_t *
ngx_http_metrics_use_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name)
{
    ngx_shm_zone_t                *shm_zone;
    ngx_http_metrics_ref_t        *ref;
    ngx_http_metrics_main_conf_t  *mmcf;

    shm_zone = ngx_shared_memory_add(cf, name, 0, &ngx_http_metrics_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_metrics_module);

    ref = ngx_array_push(&mmcf->refs);
    if (ref == NULL) {
        return NULL;
    }

    ref->shm_zone = shm_zone;
    ref->directive = cmd->name;
    ref->file = cf->conf_file->file.name.data;
    ref->line = cf->conf_file->line;

    return shm_zone;
}


static ngx_int_t
ngx_http_metrics_init(ngx_conf_t *cf)
{
    ngx_uint_t                     i;
    ngx_http_handler_pt           *h;
    ngx_http_metrics_ref_t        *ref;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_metrics_module);

    ref = mmcf->refs.elts;

    for (i = 0; i < mmcf->refs.nelts; i++) {
        if (ref[i].shm_zone->data == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"%V\" uses the unknown metrics zone \"%V\", "
                          "declare it with metrics_zone, in %s:%ui",
                          &ref[i].directive, &ref[i].shm_zone->shm.name,
                          ref[i].file, ref[i].line);
            return NGX_ERROR;
        }
    }

    if (!mmcf->counting) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_metrics_log_handler;

    ngx_http_meshgate_set_reporter(cf, ngx_http_metrics_report);

    return ngx_http_metrics_filter_init(cf);
}
