
/*
 * meshgate: distributed GCRA rate limiting in Redis, the parts of the
 * module its files share.
 */


#ifndef _NGX_HTTP_LIMIT_REDIS_MODULE_H_INCLUDED_
#define _NGX_HTTP_LIMIT_REDIS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_meshgate_redis.h"
#include "mg_gcra.h"


/* every Redis key starts with this and the zone's name, then ':' */
#define NGX_HTTP_LIMIT_REDIS_PREFIX      "mg:lr:"

/* what limit_req accepts, and what a local fallback node can hold */
#define NGX_HTTP_LIMIT_REDIS_MAX_KEY     65535

/* the local fallback's shared memory zone, unless zone=name:size says */
#define NGX_HTTP_LIMIT_REDIS_LOCAL_SIZE  (1024 * 1024)


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
} ngx_http_limit_redis_limit_t;


ngx_int_t ngx_http_limit_redis_local_add(ngx_conf_t *cf,
    ngx_http_limit_redis_zone_t *zone);
void ngx_http_limit_redis_local_backlog(ngx_http_limit_redis_zone_t *zone,
    ngx_str_t *key, int64_t now, int64_t *backlog);
ngx_int_t ngx_http_limit_redis_local_charge(
    ngx_http_limit_redis_zone_t *zone, ngx_str_t *key, int64_t now,
    int64_t interval);

ngx_int_t ngx_http_limit_redis_read_reply(redisReply **element,
    ngx_uint_t n, mg_gcra_zone_t *zones, mg_gcra_decision_t *decision,
    ngx_str_t *error);


extern ngx_str_t     ngx_http_limit_redis_script;
extern ngx_module_t  ngx_http_limit_redis_module;


#endif /* _NGX_HTTP_LIMIT_REDIS_MODULE_H_INCLUDED_ */
