
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: distributed rate limiting, limit_req's semantics with the
 * state in Redis (GCRA, see ngx_http_limit_redis_script.c): the
 * directives, their configuration, and the module's initialization.
 *
 * Requests are checked in batches, one script call per pass of a worker's
 * event loop (ngx_http_limit_redis_batch.c); the phase handlers and the
 * verdicts are in ngx_http_limit_redis_handler.c, the local fallback in
 * ngx_http_limit_redis_local.c.
 */


#include "ngx_http_limit_redis_module.h"


static ngx_http_limit_redis_zone_t *ngx_http_limit_redis_find_zone(
    ngx_conf_t *cf, ngx_str_t *name);
static ngx_int_t ngx_http_limit_redis_finish(ngx_conf_t *cf,
    ngx_http_limit_redis_conf_t *conf);
static ngx_http_limit_redis_server_t *ngx_http_limit_redis_server(
    ngx_conf_t *cf, ngx_http_meshgate_redis_script_t *script);
static void *ngx_http_limit_redis_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_limit_redis_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_limit_redis_create_conf(ngx_conf_t *cf);
static char *ngx_http_limit_redis_merge_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_limit_redis_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_limit_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_limit_redis_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_limit_redis_init(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_http_limit_redis_fail_modes[] = {
    { ngx_string("open"), NGX_HTTP_LIMIT_REDIS_FAIL_OPEN },
    { ngx_string("closed"), NGX_HTTP_LIMIT_REDIS_FAIL_CLOSED },
    { ngx_string("local"), NGX_HTTP_LIMIT_REDIS_FAIL_LOCAL },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_limit_redis_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_limit_redis_commands[] = {

    { ngx_string("limit_redis_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_limit_redis_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("limit_redis"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_limit_redis,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("limit_redis_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_limit_redis_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_limit_redis_conf_t, status_code),
      NULL },

    { ngx_string("limit_redis_fail"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_limit_redis_conf_t, fail),
      &ngx_http_limit_redis_fail_modes },

    { ngx_string("limit_redis_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_limit_redis_conf_t, headers),
      NULL },

    { ngx_string("limit_redis_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_limit_redis_conf_t, dry_run),
      NULL },

    { ngx_string("limit_redis_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_limit_redis_conf_t, log_level),
      &ngx_http_limit_redis_log_levels },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_limit_redis_module_ctx = {
    ngx_http_limit_redis_add_variables,    /* preconfiguration */
    ngx_http_limit_redis_init,             /* postconfiguration */

    ngx_http_limit_redis_create_main_conf, /* create main configuration */
    ngx_http_limit_redis_init_main_conf,   /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_limit_redis_create_conf,      /* create location configuration */
    ngx_http_limit_redis_merge_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_limit_redis_module = {
    NGX_MODULE_V1,
    &ngx_http_limit_redis_module_ctx,      /* module context */
    ngx_http_limit_redis_commands,         /* module directives */
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


static ngx_http_limit_redis_zone_t *
ngx_http_limit_redis_find_zone(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                         i;
    ngx_http_limit_redis_zone_t       *zone, **zones;
    ngx_http_limit_redis_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_limit_redis_module);

    zones = lmcf->zones.elts;

    for (i = 0; i < lmcf->zones.nelts; i++) {
        if (zones[i]->name.len == name->len
            && ngx_strncmp(zones[i]->name.data, name->data, name->len) == 0)
        {
            return zones[i];
        }
    }

    /* a reference may come before the declaration */

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_limit_redis_zone_t));
    if (zone == NULL) {
        return NULL;
    }

    zone->name = *name;
    zone->size = NGX_HTTP_LIMIT_REDIS_LOCAL_SIZE;
    zone->file = cf->conf_file->file.name.data;
    zone->line = cf->conf_file->line;

    zones = ngx_array_push(&lmcf->zones);
    if (zones == NULL) {
        return NULL;
    }

    *zones = zone;

    return zone;
}


/*
 * Completes a level's limits once every zone is declared, and checks that
 * one script call can serve them: all zones of a location on one server.
 */

static ngx_int_t
ngx_http_limit_redis_finish(ngx_conf_t *cf, ngx_http_limit_redis_conf_t *conf)
{
    u_char                            *p;
    size_t                             len;
    int64_t                            quota;
    ngx_uint_t                         i;
    ngx_http_limit_redis_zone_t       *zone, *first;
    ngx_http_limit_redis_limit_t      *limit;
    ngx_http_limit_redis_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_limit_redis_module);

    limit = conf->limits.elts;
    first = limit[0].zone;

    if (conf->limits.nelts > lmcf->max_zones) {
        lmcf->max_zones = conf->limits.nelts;
    }

    for (i = 0; i < conf->limits.nelts; i++) {
        zone = limit[i].zone;

        if (zone->server != first->server) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"limit_redis\" zones \"%V\" and \"%V\" use "
                          "different redis servers, but all zones of a "
                          "location are checked in one call to one "
                          "server, in %s:%ui",
                          &first->name, &zone->name, conf->file, conf->line);
            return NGX_ERROR;
        }

        if (limit[i].policy.len) {
            continue;
        }

        limit[i].gcra.interval = zone->interval;

        /* the largest backlog the zone accepts, for the script */

        limit[i].quota_arg.data = ngx_pnalloc(cf->pool, NGX_INT64_LEN);
        if (limit[i].quota_arg.data == NULL) {
            return NGX_ERROR;
        }

        limit[i].quota_arg.len = ngx_sprintf(limit[i].quota_arg.data, "%L",
                                             limit[i].gcra.burst
                                             * zone->interval)
                                 - limit[i].quota_arg.data;

        /* the whole burst, B + 1 requests, in (B + 1) * T */

        quota = limit[i].gcra.burst + 1;

        len = sizeof("\"\";q=;w=") - 1 + zone->name.len + 2 * NGX_INT64_LEN;

        p = ngx_pnalloc(cf->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        limit[i].policy.data = p;
        limit[i].policy.len = ngx_sprintf(p, "\"%V\";q=%L;w=%L", &zone->name,
                                          quota,
                                          mg_gcra_seconds(quota
                                                          * zone->interval))
                              - p;
    }

    conf->server = ngx_http_limit_redis_server(cf, first->script);
    if (conf->server == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the batches of a script, shared by the locations whose zones use it */

static ngx_http_limit_redis_server_t *
ngx_http_limit_redis_server(ngx_conf_t *cf,
    ngx_http_meshgate_redis_script_t *script)
{
    ngx_uint_t                         i;
    ngx_http_limit_redis_server_t     *server, **servers;
    ngx_http_limit_redis_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_limit_redis_module);

    servers = lmcf->servers.elts;

    for (i = 0; i < lmcf->servers.nelts; i++) {
        if (servers[i]->script == script) {
            return servers[i];
        }
    }

    server = ngx_pcalloc(cf->pool, sizeof(ngx_http_limit_redis_server_t));
    if (server == NULL) {
        return NULL;
    }

    server->script = script;
    server->lmcf = lmcf;
    ngx_queue_init(&server->free);

    servers = ngx_array_push(&lmcf->servers);
    if (servers == NULL) {
        return NULL;
    }

    *servers = server;

    return server;
}


static void *
ngx_http_limit_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_limit_redis_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_limit_redis_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&lmcf->zones, cf->pool, 4,
                       sizeof(ngx_http_limit_redis_zone_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&lmcf->servers, cf->pool, 1,
                       sizeof(ngx_http_limit_redis_server_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return lmcf;
}


/* the http block is parsed: every zone referenced must be declared now */

static char *
ngx_http_limit_redis_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_limit_redis_main_conf_t *lmcf = conf;

    ngx_uint_t                     i;
    ngx_http_limit_redis_zone_t  **zones;

    zones = lmcf->zones.elts;

    for (i = 0; i < lmcf->zones.nelts; i++) {
        if (!zones[i]->declared) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"limit_redis\" refers to unknown zone \"%V\" "
                          "(no \"limit_redis_zone\" declares it) in %s:%ui",
                          &zones[i]->name, zones[i]->file, zones[i]->line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_limit_redis_create_conf(ngx_conf_t *cf)
{
    ngx_http_limit_redis_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_limit_redis_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->limits.elts = NULL;
     *     conf->server = NULL;
     *     conf->delay_log_level = 0;
     *     conf->file = NULL;
     *     conf->line = 0;
     */

    conf->status_code = NGX_CONF_UNSET_UINT;
    conf->fail = NGX_CONF_UNSET_UINT;
    conf->headers = NGX_CONF_UNSET;
    conf->dry_run = NGX_CONF_UNSET;
    conf->log_level = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_limit_redis_merge_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_limit_redis_conf_t *prev = parent;
    ngx_http_limit_redis_conf_t *conf = child;

    ngx_uint_t                     i;
    ngx_http_limit_redis_limit_t  *limit;

    /* like limit_req: a level with no limit_redis inherits them all */

    if (conf->limits.elts == NULL) {
        conf->limits = prev->limits;
        conf->server = prev->server;
        conf->file = prev->file;
        conf->line = prev->line;
    }

    ngx_conf_merge_uint_value(conf->status_code, prev->status_code,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_uint_value(conf->fail, prev->fail,
                              NGX_HTTP_LIMIT_REDIS_FAIL_OPEN);
    ngx_conf_merge_value(conf->headers, prev->headers, 1);
    ngx_conf_merge_value(conf->dry_run, prev->dry_run, 0);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level,
                              NGX_LOG_ERR);

    conf->delay_log_level = (conf->log_level == NGX_LOG_INFO)
                            ? NGX_LOG_INFO : conf->log_level + 1;

    if (conf->limits.nelts == 0) {
        return NGX_CONF_OK;
    }

    if (conf->server == NULL
        && ngx_http_limit_redis_finish(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->fail != NGX_HTTP_LIMIT_REDIS_FAIL_LOCAL) {
        return NGX_CONF_OK;
    }

    /* shared memory only for zones that may fall back to it */

    limit = conf->limits.elts;

    for (i = 0; i < conf->limits.nelts; i++) {
        if (limit[i].zone->shm_zone == NULL
            && ngx_http_limit_redis_local_add(cf, limit[i].zone) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_limit_redis_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                             c, *p, *colon;
    ssize_t                            size;
    ngx_str_t                         *value, name, rate, server, s, source;
    ngx_uint_t                         i;
    ngx_http_limit_redis_zone_t       *zone;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    name.len = 0;
    rate.len = 0;
    server.len = 0;
    size = NGX_HTTP_LIMIT_REDIS_LOCAL_SIZE;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;
            name.len = value[i].len - 5;

            colon = (u_char *) ngx_strlchr(name.data, name.data + name.len,
                                           ':');

            if (colon) {
                s.data = colon + 1;
                s.len = name.data + name.len - s.data;
                name.len = colon - name.data;

                size = ngx_parse_size(&s);

                if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "\"limit_redis_zone\" has an invalid "
                                       "zone size \"%V\", at least %uz is "
                                       "needed", &value[i], 8 * ngx_pagesize);
                    return NGX_CONF_ERROR;
                }
            }

            /* the name goes into Redis keys and header values as it is */

            for (p = name.data; p < name.data + name.len; p++) {
                c = ngx_tolower(*p);

                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                      || c == '_' || c == '-' || c == '.'))
                {
                    break;
                }
            }

            if (name.len == 0 || p < name.data + name.len) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"limit_redis_zone\" has an invalid "
                                   "zone name in \"%V\": use letters, "
                                   "digits, \"_\", \"-\" and \".\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            rate.data = value[i].data + 5;
            rate.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "redis=", 6) == 0) {
            server.data = value[i].data + 6;
            server.len = value[i].len - 6;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis_zone\" has an invalid parameter "
                           "\"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0 || rate.len == 0 || server.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis_zone\" must have \"zone=\", "
                           "\"rate=\" and \"redis=\" parameters");
        return NGX_CONF_ERROR;
    }

    zone = ngx_http_limit_redis_find_zone(cf, &name);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->declared) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate \"limit_redis_zone\" zone \"%V\"",
                           &name);
        return NGX_CONF_ERROR;
    }

    zone->declared = 1;
    zone->size = size;

    if (mg_gcra_parse_rate(rate.data, rate.len, &zone->interval) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis_zone\" has an invalid rate "
                           "\"rate=%V\": use Nr/s or Nr/m, from 1r/m to "
                           "1000000r/s", &rate);
        return NGX_CONF_ERROR;
    }

    zone->interval_arg.data = ngx_pnalloc(cf->pool, NGX_INT64_LEN);
    if (zone->interval_arg.data == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->interval_arg.len = ngx_sprintf(zone->interval_arg.data, "%L",
                                         zone->interval)
                             - zone->interval_arg.data;

    zone->server = ngx_http_meshgate_redis_server(cf, &server);
    if (zone->server == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->script = ngx_http_meshgate_redis_add_script(cf, zone->server,
                                               &ngx_http_limit_redis_script);
    if (zone->script == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the key's constant prefix is compiled in: no copy per request */

    zone->prefix = sizeof(NGX_HTTP_LIMIT_REDIS_PREFIX) - 1 + name.len + 1;

    source.len = zone->prefix + value[1].len;
    source.data = ngx_pnalloc(cf->pool, source.len);
    if (source.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(source.data, NGX_HTTP_LIMIT_REDIS_PREFIX,
                   sizeof(NGX_HTTP_LIMIT_REDIS_PREFIX) - 1);
    p = ngx_cpymem(p, name.data, name.len);
    *p++ = ':';
    ngx_memcpy(p, value[1].data, value[1].len);

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &source;
    ccv.complex_value = &zone->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_limit_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_limit_redis_conf_t *lrcf = conf;

    ngx_int_t                      burst, delay;
    ngx_str_t                     *value, name;
    ngx_uint_t                     i, nodelay;
    ngx_http_limit_redis_zone_t   *zone;
    ngx_http_limit_redis_limit_t  *limit, *limits;

    value = cf->args->elts;

    name.len = 0;
    burst = 0;
    delay = 0;
    nodelay = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            name.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {

            burst = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (burst <= 0 || burst > MG_GCRA_MAX_BURST) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"limit_redis\" has an invalid burst "
                                   "\"%V\", from 1 to %d", &value[i],
                                   MG_GCRA_MAX_BURST);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "delay=", 6) == 0) {

            delay = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (delay <= 0 || delay > MG_GCRA_MAX_BURST) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"limit_redis\" has an invalid delay "
                                   "\"%V\", from 1 to %d", &value[i],
                                   MG_GCRA_MAX_BURST);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "nodelay") == 0) {
            nodelay = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis\" has an invalid parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis\" must have a \"zone=\" parameter");
        return NGX_CONF_ERROR;
    }

    if (nodelay && delay) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis\" takes \"nodelay\" or \"delay=\", "
                           "not both");
        return NGX_CONF_ERROR;
    }

    zone = ngx_http_limit_redis_find_zone(cf, &name);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    limits = lrcf->limits.elts;

    if (limits == NULL) {
        if (ngx_array_init(&lrcf->limits, cf->pool, 1,
                           sizeof(ngx_http_limit_redis_limit_t))
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        lrcf->file = cf->conf_file->file.name.data;
        lrcf->line = cf->conf_file->line;
    }

    for (i = 0; i < lrcf->limits.nelts; i++) {
        if (limits[i].zone == zone) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"limit_redis\" uses zone \"%V\" twice "
                               "at this level", &name);
            return NGX_CONF_ERROR;
        }
    }

    limit = ngx_array_push(&lrcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(limit, sizeof(ngx_http_limit_redis_limit_t));

    limit->zone = zone;
    limit->gcra.burst = burst;
    limit->gcra.delay = nodelay ? MG_GCRA_NODELAY : delay;

    return NGX_CONF_OK;
}


static char *
ngx_http_limit_redis_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_limit_redis_conf_t *lrcf = conf;

    ngx_int_t   status;
    ngx_str_t  *value;

    if (lrcf->status_code != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    status = ngx_atoi(value[1].data, value[1].len);

    if (status < 400 || status > 599) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis_status\" has an invalid code "
                           "\"%V\", from 400 to 599", &value[1]);
        return NGX_CONF_ERROR;
    }

    lrcf->status_code = status;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_limit_redis_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt               *h;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_http_limit_redis_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_limit_redis_module);

    /* unused, the module costs nothing */

    if (lmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    if (ngx_http_limit_redis_init_batches(cf, lmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_limit_redis_init_ctxs(lmcf);

    /* see "Phases" at the top of ngx_http_limit_redis_handler.c */

    if (ngx_http_meshgate_access_runs_after(cf, &ngx_http_limit_redis_module)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_limit_redis_preaccess_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_limit_redis_access_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_limit_redis_access_handler;

    return NGX_OK;
}
