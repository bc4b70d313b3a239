
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the "redis_server" directive and the registry of servers and
 * scripts that other modules reach through ngx_http_meshgate_redis.h.  The
 * connections and their commands live in the other files of this folder
 * (see ngx_http_meshgate_redis_internal.h).
 */


#include <openssl/evp.h>

#include "ngx_http_meshgate_redis_internal.h"


#define NGX_HTTP_MESHGATE_REDIS_PORT             6379
#define NGX_HTTP_MESHGATE_REDIS_TIMEOUT          100
#define NGX_HTTP_MESHGATE_REDIS_CONNECT_TIMEOUT  100


static ngx_http_meshgate_redis_server_t *ngx_http_meshgate_redis_find(
    ngx_http_meshgate_redis_main_conf_t *rmcf, ngx_str_t *name);
static ngx_http_meshgate_redis_server_t *ngx_http_meshgate_redis_create(
    ngx_conf_t *cf, ngx_http_meshgate_redis_main_conf_t *rmcf,
    ngx_str_t *name);
static ngx_int_t ngx_http_meshgate_redis_sha1(ngx_str_t *source, u_char *hex);

static void *ngx_http_meshgate_redis_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_meshgate_redis_init_main_conf(ngx_conf_t *cf,
    void *conf);
static char *ngx_http_meshgate_redis_declare(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_meshgate_redis_msec(ngx_str_t *value,
    ngx_msec_t *msec);
static size_t ngx_http_meshgate_redis_shown(ngx_str_t *param,
    ngx_uint_t known);
static ngx_int_t ngx_http_meshgate_redis_init_process(ngx_cycle_t *cycle);
static void ngx_http_meshgate_redis_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_meshgate_redis_commands[] = {

    { ngx_string("redis_server"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_meshgate_redis_declare,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_meshgate_redis_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_meshgate_redis_create_main_conf,
                                           /* create main configuration */
    ngx_http_meshgate_redis_init_main_conf,
                                           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_meshgate_redis_module = {
    NGX_MODULE_V1,
    &ngx_http_meshgate_redis_module_ctx,   /* module context */
    ngx_http_meshgate_redis_commands,      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_meshgate_redis_init_process,  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_meshgate_redis_exit_process,  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_http_meshgate_redis_server_t *
ngx_http_meshgate_redis_server(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_str_t                            *value;
    ngx_http_meshgate_redis_server_t     *server;
    ngx_http_meshgate_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_meshgate_redis_module);

    server = ngx_http_meshgate_redis_find(rmcf, name);

    if (rmcf->checked) {

        /*
         * Past the end of the http block nothing can declare the server
         * any more, so a late reference is checked here and now.
         */

        if (server == NULL || !server->declared) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown redis_server \"%V\"", name);
            return NULL;
        }

        server->referenced = 1;

        return server;
    }

    if (server == NULL) {
        server = ngx_http_meshgate_redis_create(cf, rmcf, name);
        if (server == NULL) {
            return NULL;
        }
    }

    server->referenced = 1;

    if (server->ref_directive.len == 0 && !server->declared) {
        value = cf->args->elts;

        server->ref_directive = value[0];
        server->ref_file = cf->conf_file->file.name;
        server->ref_line = cf->conf_file->line;
    }

    return server;
}


ngx_str_t *
ngx_http_meshgate_redis_server_name(ngx_http_meshgate_redis_server_t *server)
{
    return &server->name;
}


ngx_msec_t
ngx_http_meshgate_redis_timeout(ngx_http_meshgate_redis_server_t *server)
{
    return server->timeout;
}


ngx_http_meshgate_redis_script_t *
ngx_http_meshgate_redis_add_script(ngx_conf_t *cf,
    ngx_http_meshgate_redis_server_t *server, ngx_str_t *source)
{
    ngx_uint_t                          i;
    ngx_http_meshgate_redis_script_t  **scripts, *script;

    /* two zones with the same script share it: one SCRIPT LOAD */

    scripts = server->scripts.elts;

    for (i = 0; i < server->scripts.nelts; i++) {
        if (scripts[i]->source.len == source->len
            && ngx_memcmp(scripts[i]->source.data, source->data, source->len)
               == 0)
        {
            return scripts[i];
        }
    }

    script = ngx_pcalloc(cf->pool, sizeof(ngx_http_meshgate_redis_script_t));
    if (script == NULL) {
        return NULL;
    }

    script->server = server;

    script->source.len = source->len;
    script->source.data = ngx_pstrdup(cf->pool, source);
    if (script->source.data == NULL) {
        return NULL;
    }

    if (ngx_http_meshgate_redis_sha1(source, script->sha1) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "SHA1 of a redis script failed");
        return NULL;
    }

    scripts = ngx_array_push(&server->scripts);
    if (scripts == NULL) {
        return NULL;
    }

    *scripts = script;

    return script;
}


static ngx_http_meshgate_redis_server_t *
ngx_http_meshgate_redis_find(ngx_http_meshgate_redis_main_conf_t *rmcf,
    ngx_str_t *name)
{
    ngx_uint_t                          i;
    ngx_http_meshgate_redis_server_t  **servers;

    servers = rmcf->servers.elts;

    for (i = 0; i < rmcf->servers.nelts; i++) {
        if (servers[i]->name.len == name->len
            && ngx_strncmp(servers[i]->name.data, name->data, name->len) == 0)
        {
            return servers[i];
        }
    }

    return NULL;
}


static ngx_http_meshgate_redis_server_t *
ngx_http_meshgate_redis_create(ngx_conf_t *cf,
    ngx_http_meshgate_redis_main_conf_t *rmcf, ngx_str_t *name)
{
    ngx_http_meshgate_redis_server_t  *server, **servers;

    server = ngx_pcalloc(cf->pool, sizeof(ngx_http_meshgate_redis_server_t));
    if (server == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     server->address = { 0, NULL };
     *     server->addr = NULL;
     *     server->password = { 0, NULL };
     *     server->ref_directive = { 0, NULL };
     *     server->conns = NULL;
     *     server->ndown = 0;
     *     server->declared = 0;
     *     server->referenced = 0;
     */

    server->name.len = name->len;
    server->name.data = ngx_pstrdup(cf->pool, name);
    if (server->name.data == NULL) {
        return NULL;
    }

    server->db = NGX_CONF_UNSET_UINT;
    server->timeout = NGX_CONF_UNSET_MSEC;
    server->connect_timeout = NGX_CONF_UNSET_MSEC;
    server->nconnections = NGX_CONF_UNSET_UINT;

    if (ngx_array_init(&server->scripts, cf->pool, 2,
                       sizeof(ngx_http_meshgate_redis_script_t *))
        != NGX_OK)
    {
        return NULL;
    }

    servers = ngx_array_push(&rmcf->servers);
    if (servers == NULL) {
        return NULL;
    }

    *servers = server;

    return server;
}


static ngx_int_t
ngx_http_meshgate_redis_sha1(ngx_str_t *source, u_char *hex)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  len;

    if (EVP_Digest(source->data, source->len, md, &len, EVP_sha1(), NULL)
        != 1
        || len * 2 != NGX_HTTP_MESHGATE_REDIS_SHA1_LEN)
    {
        return NGX_ERROR;
    }

    /* Redis names scripts by the lowercase hex of the SHA1 */

    ngx_hex_dump(hex, md, len);

    return NGX_OK;
}


static void *
ngx_http_meshgate_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_meshgate_redis_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_meshgate_redis_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rmcf->recv_buffer = NULL;
     *     rmcf->scratch = NULL;
     *     rmcf->checked = 0;
     */

    if (ngx_array_init(&rmcf->servers, cf->pool, 4,
                       sizeof(ngx_http_meshgate_redis_server_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return rmcf;
}


static char *
ngx_http_meshgate_redis_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_meshgate_redis_main_conf_t *rmcf = conf;

    ngx_uint_t                          i;
    ngx_http_meshgate_redis_server_t  **servers;

    /*
     * The whole http block has been read: every "redis_server" there is
     * is known, so a reference to any other name is an error, reported
     * where the reference was made.
     */

    servers = rmcf->servers.elts;

    for (i = 0; i < rmcf->servers.nelts; i++) {
        if (!servers[i]->declared) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"%V\" directive refers to unknown redis_server "
                          "\"%V\" in %V:%ui",
                          &servers[i]->ref_directive, &servers[i]->name,
                          &servers[i]->ref_file, servers[i]->ref_line);
            return NGX_CONF_ERROR;
        }
    }

    rmcf->checked = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_meshgate_redis_declare(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_meshgate_redis_main_conf_t *rmcf = conf;

    ngx_int_t                          n;
    ngx_str_t                         *value, s;
    ngx_url_t                          u;
    ngx_uint_t                         i;
    ngx_http_meshgate_redis_server_t  *server;

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty server name in \"redis_server\"");
        return NGX_CONF_ERROR;
    }

    server = ngx_http_meshgate_redis_find(rmcf, &value[1]);

    if (server == NULL) {
        server = ngx_http_meshgate_redis_create(cf, rmcf, &value[1]);
        if (server == NULL) {
            return NGX_CONF_ERROR;
        }

    } else if (server->declared) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate redis_server \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[2];
    u.default_port = NGX_HTTP_MESHGATE_REDIS_PORT;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "redis_server \"%V\": %s in \"%V\"",
                               &value[1], u.err, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis_server \"%V\": no address in \"%V\"",
                           &value[1], &u.url);
        return NGX_CONF_ERROR;
    }

    /* like proxy_pass to a name, the first address found is used */

    server->addr = &u.addrs[0];
    server->address = u.addrs[0].name;

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {

            if (server->password.data) {
                goto duplicate;
            }

            server->password.len = value[i].len - 9;
            server->password.data = value[i].data + 9;

            if (server->password.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {

            if (server->db != NGX_CONF_UNSET_UINT) {
                goto duplicate;
            }

            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            server->db = n;

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {

            if (server->timeout != NGX_CONF_UNSET_MSEC) {
                goto duplicate;
            }

            s.len = value[i].len - 8;
            s.data = value[i].data + 8;

            if (ngx_http_meshgate_redis_msec(&s, &server->timeout)
                != NGX_OK)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {

            if (server->connect_timeout != NGX_CONF_UNSET_MSEC) {
                goto duplicate;
            }

            s.len = value[i].len - 16;
            s.data = value[i].data + 16;

            if (ngx_http_meshgate_redis_msec(&s, &server->connect_timeout)
                != NGX_OK)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connections=", 12) == 0) {

            if (server->nconnections != NGX_CONF_UNSET_UINT) {
                goto duplicate;
            }

            n = ngx_atoi(value[i].data + 12, value[i].len - 12);
            if (n == NGX_ERROR || n == 0
                || n > NGX_HTTP_MESHGATE_REDIS_MAX_CONNECTIONS)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "redis_server \"%V\": invalid value "
                                   "\"%V\", must be 1 to %d",
                                   &value[1], &value[i],
                                   NGX_HTTP_MESHGATE_REDIS_MAX_CONNECTIONS);
                return NGX_CONF_ERROR;
            }

            server->nconnections = n;

            continue;
        }

        n = ngx_http_meshgate_redis_shown(&value[i], 0);

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis_server \"%V\": invalid parameter \"%*s%s\"",
                           &value[1], (size_t) n, value[i].data,
                           (size_t) n < value[i].len ? "..." : "");
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_uint_value(server->db, 0);
    ngx_conf_init_msec_value(server->timeout,
                             NGX_HTTP_MESHGATE_REDIS_TIMEOUT);
    ngx_conf_init_msec_value(server->connect_timeout,
                             NGX_HTTP_MESHGATE_REDIS_CONNECT_TIMEOUT);
    ngx_conf_init_uint_value(server->nconnections, 1);

    server->declared = 1;

    return NGX_CONF_OK;

invalid:

    n = ngx_http_meshgate_redis_shown(&value[i], 1);

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "redis_server \"%V\": invalid value \"%*s%s\"",
                       &value[1], (size_t) n, value[i].data,
                       (size_t) n < value[i].len ? "..." : "");
    return NGX_CONF_ERROR;

duplicate:

    n = ngx_http_meshgate_redis_shown(&value[i], 1);

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "redis_server \"%V\": duplicate parameter \"%*s%s\"",
                       &value[1], (size_t) n, value[i].data,
                       (size_t) n < value[i].len ? "..." : "");
    return NGX_CONF_ERROR;
}


/*
 * How much of a parameter an error message shows: never the value of
 * "password=", nor that of an unknown parameter, which may be a misspelt
 * "password=" (the name says which parameter is meant); "..." stands for
 * what is left out.
 */

static size_t
ngx_http_meshgate_redis_shown(ngx_str_t *param, ngx_uint_t known)
{
    u_char  *eq;

    eq = ngx_strlchr(param->data, param->data + param->len, '=');

    if (eq == NULL
        || (known && ngx_strncmp(param->data, "password=", 9) != 0))
    {
        return param->len;
    }

    return eq + 1 - param->data;
}


static ngx_int_t
ngx_http_meshgate_redis_msec(ngx_str_t *value, ngx_msec_t *msec)
{
    ngx_int_t  n;

    /* a zero deadline would fail every command before it is sent */

    n = ngx_parse_time(value, 0);
    if (n == NGX_ERROR || n == 0) {
        return NGX_ERROR;
    }

    *msec = (ngx_msec_t) n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_meshgate_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_http_meshgate_redis_main_conf_t  *rmcf;

    /* cache managers and loaders never serve requests */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_meshgate_redis_module);
    if (rmcf == NULL || rmcf->servers.nelts == 0) {
        return NGX_OK;
    }

    return ngx_http_meshgate_redis_init_connections(cycle, rmcf);
}


static void
ngx_http_meshgate_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_meshgate_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_meshgate_redis_module);
    if (rmcf == NULL || rmcf->servers.nelts == 0) {
        return;
    }

    ngx_http_meshgate_redis_close_connections(cycle, rmcf);
}
