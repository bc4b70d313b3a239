
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: distributed GCRA rate limiting in Redis, the parts of the
 * module its files share.
 *
 *   ngx_http_limit_redis_module.c   directives, configuration, init
 *   ngx_http_limit_redis_handler.c  phase handlers, verdicts, delays,
 *                                   headers, $limit_redis_status
 *   ngx_http_limit_redis_batch.c    batches of checks and their Redis I/O
 *   ngx_http_limit_redis_script.c   the Lua script
 *   ngx_http_limit_redis_local.c    limit_redis_fail local
 */


#ifndef _NGX_HTTP_LIMIT_REDIS_MODULE_H_INCLUDED_
#define _NGX_HTTP_LIMIT_REDIS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_meshgate.h"
#include "../redis/ngx_http_meshgate_redis.h"
#include "mg_gcra.h"


/* every Redis key starts with this and the zone's name, then ':' */
#define NGX_HTTP_LIMIT_REDIS_PREFIX            "mg:lr:"

/* what limit_req accepts, and what a local fallback node can hold */
#define NGX_HTTP_LIMIT_REDIS_MAX_KEY           65535

/* the local fallback's shared memory zone, unless zone=name:size says */
#define NGX_HTTP_LIMIT_REDIS_LOCAL_SIZE        (1024 * 1024)

/* verdicts, as $limit_redis_status tells them */
#define NGX_HTTP_LIMIT_REDIS_PASSED            1
#define NGX_HTTP_LIMIT_REDIS_DELAYED           2
#define NGX_HTTP_LIMIT_REDIS_REJECTED          3
#define NGX_HTTP_LIMIT_REDIS_DELAYED_DRY_RUN   4
#define NGX_HTTP_LIMIT_REDIS_REJECTED_DRY_RUN  5
#define NGX_HTTP_LIMIT_REDIS_ERROR             6

/* the same outcomes of the local fallback: LOCAL_PASSED ... */
#define NGX_HTTP_LIMIT_REDIS_LOCAL             6

/* limit_redis_fail */
#define NGX_HTTP_LIMIT_REDIS_FAIL_OPEN         0
#define NGX_HTTP_LIMIT_REDIS_FAIL_CLOSED       1
#define NGX_HTTP_LIMIT_REDIS_FAIL_LOCAL        2

/* where a request is: waiting for Redis, answered, decided */
#define NGX_HTTP_LIMIT_REDIS_WAITING           1
#define NGX_HTTP_LIMIT_REDIS_REPLIED           2
#define NGX_HTTP_LIMIT_REDIS_DONE              3


typedef struct ngx_http_limit_redis_ctx_s      ngx_http_limit_redis_ctx_t;
typedef struct ngx_http_limit_redis_batch_s    ngx_http_limit_redis_batch_t;
typedef struct ngx_http_limit_redis_server_s   ngx_http_limit_redis_server_t;
typedef struct ngx_http_limit_redis_command_s  ngx_http_limit_redis_command_t;


typedef struct {
    ngx_rbtree_t                        rbtree;
    ngx_rbtree_node_t                   sentinel;
    ngx_queue_t                         queue;
} ngx_http_limit_redis_shctx_t;


typedef struct {
    ngx_str_t                           name;

    /* the Redis key: NGX_HTTP_LIMIT_REDIS_PREFIX "<name>:" and the key */
    ngx_http_complex_value_t            key;
    size_t                              prefix;     /* its constant part */

    int64_t                             interval;   /* T, us */
    ngx_str_t                           interval_arg;

    ngx_http_meshgate_redis_server_t   *server;
    ngx_http_meshgate_redis_script_t   *script;

    /* the local fallback, only when a location uses limit_redis_fail local */
    ssize_t                             size;
    ngx_shm_zone_t                     *shm_zone;
    ngx_http_limit_redis_shctx_t       *sh;
    ngx_slab_pool_t                    *shpool;

    /* where it was first referenced, while not declared */
    u_char                             *file;
    ngx_uint_t                          line;

    unsigned                            declared:1;

    /*
     * Per worker: each worker owns its copy of the configuration, so a
     * Redis failure episode is logged once per zone and worker.
     */
    unsigned                            failing:1;

    /* per worker as well: a key did not fit into the local zone */
    unsigned                            unfit:1;
} ngx_http_limit_redis_zone_t;


typedef struct {
    ngx_http_limit_redis_zone_t        *zone;
    mg_gcra_limit_t                     gcra;       /* interval from zone */
    ngx_str_t                           quota_arg;  /* B * T, for Redis */
    ngx_str_t                           policy;     /* RateLimit-Policy */

    /* per worker: its index in the command last put together, and which */
    ngx_uint_t                          index;
    ngx_uint_t                          serial;
} ngx_http_limit_redis_limit_t;


typedef struct {
    ngx_array_t                         zones;  /* limit_redis_zone_t * */
    ngx_array_t                         servers;
                                            /* limit_redis_server_t * */

    /* the most zones a location has */
    ngx_uint_t                          max_zones;

    /* where a batch's command is put together, just before it is sent */
    ngx_http_limit_redis_command_t     *command;

    /* per worker: the contexts of finished requests, for the next ones */
    ngx_http_limit_redis_ctx_t         *free;
    ngx_uint_t                          nfree;
    size_t                              ctx_size;
} ngx_http_limit_redis_main_conf_t;


/* a script (one per redis_server), and what each worker batches for it */

struct ngx_http_limit_redis_server_s {
    ngx_http_meshgate_redis_script_t   *script;
    ngx_http_limit_redis_main_conf_t   *lmcf;

    /* per worker */
    ngx_http_limit_redis_batch_t       *batch;  /* the one taking requests */
    ngx_queue_t                         free;
    ngx_uint_t                          nbatches;
    ngx_uint_t                          sent;   /* batches awaiting replies */
};


typedef struct {
    ngx_array_t                         limits; /* limit_redis_limit_t */
    ngx_http_limit_redis_server_t      *server;
    ngx_uint_t                          status_code;
    ngx_uint_t                          fail;
    ngx_flag_t                          headers;
    ngx_flag_t                          dry_run;
    ngx_uint_t                          log_level;
    ngx_uint_t                          delay_log_level;

    /* where this level's first "limit_redis" is, for messages */
    u_char                             *file;
    ngx_uint_t                          line;
} ngx_http_limit_redis_conf_t;


struct ngx_http_limit_redis_ctx_s {
    ngx_http_request_t                 *request;
    ngx_http_limit_redis_conf_t        *conf;
    ngx_http_limit_redis_ctx_t         *next;   /* in the free list */

    /* while the request waits for Redis: its batch, and its slot there */
    ngx_http_limit_redis_batch_t       *batch;
    ngx_uint_t                          slot;

    /* the zones whose key is not empty, in the order of "limit_redis" */
    ngx_uint_t                          n;
    ngx_http_limit_redis_limit_t      **limits;
    ngx_str_t                          *keys;
    mg_gcra_zone_t                     *zones;
    mg_gcra_decision_t                  decision;

    ngx_uint_t                          status;  /* 0: not limited */
    unsigned                            state:2;
    unsigned                            failed:1;
};


/* ngx_http_limit_redis_handler.c */
ngx_int_t ngx_http_limit_redis_preaccess_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_limit_redis_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_limit_redis_add_variables(ngx_conf_t *cf);
void ngx_http_limit_redis_init_ctxs(ngx_http_limit_redis_main_conf_t *lmcf);

/* ngx_http_limit_redis_batch.c */
ngx_int_t ngx_http_limit_redis_add(ngx_http_limit_redis_ctx_t *ctx);
void ngx_http_limit_redis_failed(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx, ngx_str_t *reason);
void ngx_http_limit_redis_leave(ngx_http_limit_redis_ctx_t *ctx);
ngx_int_t ngx_http_limit_redis_init_batches(ngx_conf_t *cf,
    ngx_http_limit_redis_main_conf_t *lmcf);

/* ngx_http_limit_redis_local.c */
ngx_int_t ngx_http_limit_redis_local_add(ngx_conf_t *cf,
    ngx_http_limit_redis_zone_t *zone);
ngx_int_t ngx_http_limit_redis_local_decide(ngx_http_limit_redis_ctx_t *ctx);


extern ngx_str_t     ngx_http_limit_redis_script;
extern ngx_module_t  ngx_http_limit_redis_module;


#endif /* _NGX_HTTP_LIMIT_REDIS_MODULE_H_INCLUDED_ */
