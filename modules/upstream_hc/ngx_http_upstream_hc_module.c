
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: active health checks of upstream groups, with NGINX Plus's
 * `health_check` and `match` directives: the directives, and how a check
 * finds its group.
 *
 * A check probes every peer of the group that its location proxies to.
 * The state of each peer under each check lives in a shared zone of the
 * module's own (ngx_http_upstream_hc_zone.c), which also leases each probe
 * to one worker; the workers run the probes on their event loops
 * (ngx_http_upstream_hc_probe.c) and mark peers down and up in the
 * upstream's zone, where every worker's balancer sees the change at once.
 * `match` blocks are in ngx_http_upstream_hc_match.c, the metrics in
 * ngx_http_upstream_hc_export.c.
 */


#include "ngx_http_upstream_hc_module.h"


/* nginx's proxy module declares itself in no header */
extern ngx_module_t  ngx_http_proxy_module;


static ngx_int_t ngx_http_upstream_hc_resolve(ngx_conf_t *cf,
    ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_http_upstream_hc_check_t *check);
static ngx_http_upstream_hc_group_t *ngx_http_upstream_hc_group(
    ngx_conf_t *cf, ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_http_upstream_srv_conf_t *uscf);
static ngx_int_t ngx_http_upstream_hc_add_peers(ngx_conf_t *cf,
    ngx_http_upstream_hc_group_t *group);
static ngx_int_t ngx_http_upstream_hc_request(ngx_conf_t *cf,
    ngx_http_upstream_hc_check_t *check);
static ngx_int_t ngx_http_upstream_hc_key(ngx_conf_t *cf,
    ngx_http_upstream_hc_check_t *check);
static void *ngx_http_upstream_hc_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_upstream_hc(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_upstream_hc_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_upstream_hc_init_process(ngx_cycle_t *cycle);
static void ngx_http_upstream_hc_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_upstream_hc_commands[] = {

    { ngx_string("health_check"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_upstream_hc,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("match"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_upstream_hc_match_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_upstream_hc_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_upstream_hc_init,             /* postconfiguration */

    ngx_http_upstream_hc_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_upstream_hc_module = {
    NGX_MODULE_V1,
    &ngx_http_upstream_hc_module_ctx,      /* module context */
    ngx_http_upstream_hc_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_upstream_hc_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_upstream_hc_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * The group a check's location proxies to, found once the whole http
 * block is parsed and merged: proxy_pass may follow health_check in the
 * location, and the upstream block may come after both.
 *
 * The proxy module's location configuration is private, but its first
 * member is the ngx_http_upstream_conf_t of the location (true of every
 * nginx release with this module, checked against 1.22.1's
 * ngx_http_proxy_loc_conf_t), whose "upstream" proxy_pass sets when its
 * URL has no variables.  ngx_http_upstream_conf_t itself is public.
 */

static ngx_int_t
ngx_http_upstream_hc_resolve(ngx_conf_t *cf,
    ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_http_upstream_hc_check_t *check)
{
    ngx_uint_t                      i;
    ngx_http_upstream_conf_t       *ucf;
    ngx_http_upstream_hc_match_t  **matches;
    ngx_http_upstream_srv_conf_t   *uscf;

    ucf = check->loc_conf[ngx_http_proxy_module.ctx_index];
    uscf = ucf->upstream;

    if (uscf == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"health_check\" needs \"proxy_pass\" to an upstream "
                      "group (without variables) in its location, in %s:%ui",
                      check->file, check->line);
        return NGX_ERROR;
    }

    if (!(uscf->flags & NGX_HTTP_UPSTREAM_CREATE)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"health_check\" needs \"proxy_pass\" to an upstream "
                      "group, not to the address \"%V:%d\", in %s:%ui",
                      &uscf->host, (int) uscf->port, check->file,
                      check->line);
        return NGX_ERROR;
    }

    if (uscf->shm_zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"health_check\": upstream \"%V\" has no \"zone\", "
                      "the group must be in shared memory, in %s:%ui",
                      &uscf->host, check->file, check->line);
        return NGX_ERROR;
    }

#if (NGX_HTTP_SSL)

    if (ucf->ssl) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"health_check\" does not support https upstreams, "
                      "in %s:%ui", check->file, check->line);
        return NGX_ERROR;
    }

#endif

    if (check->match_name.len) {
        matches = hmcf->matches.elts;

        for (i = 0; i < hmcf->matches.nelts; i++) {
            if (matches[i]->name.len == check->match_name.len
                && ngx_strncmp(matches[i]->name.data, check->match_name.data,
                               check->match_name.len)
                   == 0)
            {
                check->match = matches[i];
                break;
            }
        }

        if (check->match == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"health_check\" uses unknown match \"%V\" "
                          "(no \"match\" block has this name), in %s:%ui",
                          &check->match_name, check->file, check->line);
            return NGX_ERROR;
        }
    }

    /* a probe is given what a proxied request would be */

    check->connect_timeout = ucf->connect_timeout;
    check->send_timeout = ucf->send_timeout;
    check->read_timeout = ucf->read_timeout;
    check->buffer_size = ucf->buffer_size;

    check->lease = check->connect_timeout + check->send_timeout
                   + check->read_timeout + NGX_HTTP_UPSTREAM_HC_SLACK;

    check->group = ngx_http_upstream_hc_group(cf, hmcf, uscf);
    if (check->group == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_upstream_hc_request(cf, check) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_upstream_hc_key(cf, check);
}


static ngx_http_upstream_hc_group_t *
ngx_http_upstream_hc_group(ngx_conf_t *cf,
    ngx_http_upstream_hc_main_conf_t *hmcf, ngx_http_upstream_srv_conf_t *uscf)
{
    ngx_uint_t                      i;
    ngx_http_upstream_hc_group_t   *group, **groups;

    groups = hmcf->groups.elts;

    for (i = 0; i < hmcf->groups.nelts; i++) {
        if (groups[i]->upstream == uscf) {
            return groups[i];
        }
    }

    group = ngx_pcalloc(cf->pool, sizeof(ngx_http_upstream_hc_group_t));
    if (group == NULL) {
        return NULL;
    }

    group->upstream = uscf;
    group->name = uscf->host;

    if (ngx_array_init(&group->checks, cf->pool, 1,
                       sizeof(ngx_http_upstream_hc_check_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_http_upstream_hc_add_peers(cf, group) != NGX_OK) {
        return NULL;
    }

    groups = ngx_array_push(&hmcf->groups);
    if (groups == NULL) {
        return NULL;
    }

    *groups = group;

    return group;
}


/*
 * The group's peers as the configuration made them (round-robin's, which
 * hash, ip_hash and least_conn build on too): the primary peers, then the
 * backup ones.  The upstream zone copies them in this same order when it
 * is set up, and ngx_http_upstream_hc_zone.c then binds them.
 */

static ngx_int_t
ngx_http_upstream_hc_add_peers(ngx_conf_t *cf,
    ngx_http_upstream_hc_group_t *group)
{
    ngx_uint_t                     n, i, j;
    ngx_http_upstream_hc_peer_t   *hp;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers, *list;

    peers = group->upstream->peer.data;

    if (peers == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"health_check\": upstream \"%V\" has no peers",
                      &group->name);
        return NGX_ERROR;
    }

    n = 0;

    for (list = peers; list; list = list->next) {
        for (peer = list->peer; peer; peer = peer->next) {
            n++;
        }
    }

    group->peers = ngx_pcalloc(cf->pool,
                               n * sizeof(ngx_http_upstream_hc_peer_t));
    if (group->peers == NULL) {
        return NGX_ERROR;
    }

    group->npeers = n;
    i = 0;

    for (list = peers; list; list = list->next) {
        for (peer = list->peer; peer; peer = peer->next) {
            hp = &group->peers[i];

            hp->name.data = ngx_pstrdup(cf->pool, &peer->name);
            if (hp->name.data == NULL) {
                return NGX_ERROR;
            }

            hp->name.len = peer->name.len;

            /* a peer marked "down" in the configuration stays down */

            hp->config_down = peer->down ? 1 : 0;
            hp->backup = (list != peers);

            for (j = 0; j < i; j++) {
                if (group->peers[j].name.len == hp->name.len
                    && ngx_strncmp(group->peers[j].name.data, hp->name.data,
                                   hp->name.len)
                       == 0)
                {
                    hp->duplicate = 1;
                    break;
                }
            }

            i++;
        }
    }

    return NGX_OK;
}


/*
 * "GET <uri> HTTP/1.0" with the group's name as Host, which is what
 * proxy_pass sends by default ($proxy_host).  HTTP/1.0 and
 * "Connection: close" keep the exchange to one response per connection,
 * and most servers then do not chunk the body.
 */

static ngx_int_t
ngx_http_upstream_hc_request(ngx_conf_t *cf,
    ngx_http_upstream_hc_check_t *check)
{
    u_char  *p;
    size_t   len;

    static const char  ua[] = "\r\nUser-Agent: meshgate health check"
                              "\r\nConnection: close\r\n\r\n";

    len = sizeof("GET  HTTP/1.0\r\nHost: ") - 1 + check->uri.len
          + check->group->name.len + sizeof(ua) - 1;

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    check->request.data = p;
    check->request.len = len;

    p = ngx_cpymem(p, "GET ", 4);
    p = ngx_cpymem(p, check->uri.data, check->uri.len);
    p = ngx_cpymem(p, " HTTP/1.0\r\nHost: ",
                   sizeof(" HTTP/1.0\r\nHost: ") - 1);
    p = ngx_cpymem(p, check->group->name.data, check->group->name.len);
    ngx_memcpy(p, ua, sizeof(ua) - 1);

    return NGX_OK;
}


/*
 * What a check's nodes are known by across reloads: the group, the
 * check's URI, port and match, and how many checks of the group with the
 * same three came before it.  Changing the interval or the thresholds
 * keeps the state; changing what is probed starts afresh.
 */

static ngx_int_t
ngx_http_upstream_hc_key(ngx_conf_t *cf, ngx_http_upstream_hc_check_t *check)
{
    u_char                         *p;
    size_t                          len;
    ngx_uint_t                      i, same;
    ngx_http_upstream_hc_check_t  **checks, *c;

    checks = check->group->checks.elts;
    same = 0;

    for (i = 0; i < check->group->checks.nelts; i++) {
        c = checks[i];

        if (c->port == check->port
            && c->uri.len == check->uri.len
            && ngx_strncmp(c->uri.data, check->uri.data, c->uri.len) == 0
            && c->match_name.len == check->match_name.len
            && ngx_strncmp(c->match_name.data, check->match_name.data,
                           c->match_name.len)
               == 0)
        {
            same++;
        }
    }

    len = check->group->name.len + check->uri.len + check->match_name.len
          + 5 * NGX_INT64_LEN + 8;

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    /* names may hold any byte: each goes with its length */

    check->key.data = p;
    check->key.len = ngx_sprintf(p, "%uz:%V %ui %uz:%V %ui %uz:%V ",
                                 check->group->name.len, &check->group->name,
                                 (ngx_uint_t) check->port, check->uri.len,
                                 &check->uri, same, check->match_name.len,
                                 &check->match_name)
                     - p;

    checks = ngx_array_push(&check->group->checks);
    if (checks == NULL) {
        return NGX_ERROR;
    }

    *checks = check;
    check->index = check->group->checks.nelts - 1;

    return NGX_OK;
}


static void *
ngx_http_upstream_hc_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_upstream_hc_main_conf_t  *hmcf;

    hmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_upstream_hc_main_conf_t));
    if (hmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&hmcf->checks, cf->pool, 1,
                       sizeof(ngx_http_upstream_hc_check_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&hmcf->matches, cf->pool, 1,
                       sizeof(ngx_http_upstream_hc_match_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&hmcf->groups, cf->pool, 1,
                       sizeof(ngx_http_upstream_hc_group_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return hmcf;
}


static char *
ngx_http_upstream_hc(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_upstream_hc_main_conf_t *hmcf = conf;

    u_char                         *p, *last;
    ngx_int_t                       n, port;
    ngx_str_t                      *value, s;
    ngx_uint_t                      i;
    ngx_http_conf_ctx_t            *ctx;
    ngx_http_upstream_hc_check_t   *check, **checks;

    check = ngx_pcalloc(cf->pool, sizeof(ngx_http_upstream_hc_check_t));
    if (check == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx = cf->ctx;

    check->loc_conf = ctx->loc_conf;
    check->file = cf->conf_file->file.name.data;
    check->line = cf->conf_file->line;

    /*
     * set by ngx_pcalloc():
     *
     *     check->uri = { 0, NULL };
     *     check->match_name = { 0, NULL };
     *     check->mandatory = 0;
     *     check->persistent = 0;
     */

    check->interval = NGX_CONF_UNSET_MSEC;
    check->jitter = NGX_CONF_UNSET_MSEC;
    check->fails = NGX_CONF_UNSET_UINT;
    check->passes = NGX_CONF_UNSET_UINT;
    port = NGX_CONF_UNSET;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0
            || ngx_strncmp(value[i].data, "jitter=", 7) == 0)
        {
            n = (value[i].data[0] == 'i') ? 9 : 7;

            if ((n == 9 ? check->interval : check->jitter)
                != NGX_CONF_UNSET_MSEC)
            {
                goto twice;
            }

            s.data = value[i].data + n;
            s.len = value[i].len - n;

            if (n == 9) {
                check->interval = ngx_parse_time(&s, 0);

                if (check->interval == (ngx_msec_t) NGX_ERROR
                    || check->interval == 0)
                {
                    goto invalid;
                }

            } else {
                check->jitter = ngx_parse_time(&s, 0);

                if (check->jitter == (ngx_msec_t) NGX_ERROR) {
                    goto invalid;
                }
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "fails=", 6) == 0
            || ngx_strncmp(value[i].data, "passes=", 7) == 0)
        {
            n = (value[i].data[0] == 'f') ? 6 : 7;

            if ((n == 6 ? check->fails : check->passes)
                != NGX_CONF_UNSET_UINT)
            {
                goto twice;
            }

            s.data = value[i].data + n;
            s.len = value[i].len - n;

            n = ngx_atoi(s.data, s.len);

            if (n <= 0 || n > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"health_check\" has an invalid "
                                   "number \"%V\", from 1 to 1000000",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            if (value[i].data[0] == 'f') {
                check->fails = n;

            } else {
                check->passes = n;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "uri=", 4) == 0) {
            if (check->uri.data) {
                goto twice;
            }

            check->uri.data = value[i].data + 4;
            check->uri.len = value[i].len - 4;

            /* it goes into the request line as it is */

            last = check->uri.data + check->uri.len;

            for (p = check->uri.data; p < last; p++) {
                if (*p <= ' ' || *p == 0x7f) {
                    break;
                }
            }

            if (check->uri.len == 0 || check->uri.data[0] != '/'
                || p < last)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"health_check\" has an invalid uri "
                                   "\"%V\": it must start with \"/\" and "
                                   "have no blanks or control characters",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "port=", 5) == 0) {
            if (port != NGX_CONF_UNSET) {
                goto twice;
            }

            port = ngx_atoi(value[i].data + 5, value[i].len - 5);

            if (port < 1 || port > 65535) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"health_check\" has an invalid port "
                                   "\"%V\", from 1 to 65535", &value[i]);
                return NGX_CONF_ERROR;
            }

            check->port = (in_port_t) port;

            continue;
        }

        if (ngx_strncmp(value[i].data, "match=", 6) == 0) {
            if (check->match_name.data) {
                goto twice;
            }

            check->match_name.data = value[i].data + 6;
            check->match_name.len = value[i].len - 6;

            if (check->match_name.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "mandatory") == 0) {
            if (check->mandatory) {
                goto twice;
            }

            check->mandatory = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "persistent") == 0) {
            if (check->persistent) {
                goto twice;
            }

            check->persistent = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "type=", 5) == 0
            || ngx_strncmp(value[i].data, "grpc_", 5) == 0
            || ngx_strncmp(value[i].data, "keepalive_time=", 15) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"health_check\" parameter \"%V\" is not "
                               "supported (HTTP checks only)", &value[i]);
            return NGX_CONF_ERROR;
        }

        goto invalid;
    }

    if (check->persistent && !check->mandatory) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"health_check\" has \"persistent\" without "
                           "\"mandatory\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_msec_value(check->interval, 5000);
    ngx_conf_init_msec_value(check->jitter, 0);
    ngx_conf_init_uint_value(check->fails, 1);
    ngx_conf_init_uint_value(check->passes, 1);

    if (check->uri.data == NULL) {
        ngx_str_set(&check->uri, "/");
    }

    checks = ngx_array_push(&hmcf->checks);
    if (checks == NULL) {
        return NGX_CONF_ERROR;
    }

    *checks = check;

    return NGX_CONF_OK;

twice:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"health_check\" has a duplicate parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"health_check\" has an invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_upstream_hc_init(ngx_conf_t *cf)
{
    ngx_uint_t                         i;
    ngx_http_upstream_hc_check_t     **checks;
    ngx_http_upstream_hc_main_conf_t  *hmcf;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_hc_module);

    /* unused, the module costs nothing */

    if (hmcf->checks.nelts == 0) {
        return NGX_OK;
    }

    checks = hmcf->checks.elts;

    for (i = 0; i < hmcf->checks.nelts; i++) {
        if (ngx_http_upstream_hc_resolve(cf, hmcf, checks[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        hmcf->nnodes += checks[i]->group->npeers;
    }

    if (ngx_http_upstream_hc_add_zone(cf, hmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_meshgate_add_exporter(cf, ngx_http_upstream_hc_export,
                                          hmcf);
}


static ngx_int_t
ngx_http_upstream_hc_init_process(ngx_cycle_t *cycle)
{
    ngx_http_upstream_hc_main_conf_t  *hmcf;

    /* probes run in the workers only, not in cache managers or loaders */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    hmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_upstream_hc_module);

    if (hmcf == NULL || hmcf->checks.nelts == 0) {
        return NGX_OK;
    }

    return ngx_http_upstream_hc_init_probes(cycle, hmcf);
}


static void
ngx_http_upstream_hc_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_upstream_hc_main_conf_t  *hmcf;

    hmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_upstream_hc_module);

    if (hmcf == NULL || hmcf->checks.nelts == 0) {
        return;
    }

    ngx_http_upstream_hc_close_probes(hmcf);
}
