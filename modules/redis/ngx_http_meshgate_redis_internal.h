
/*
 * meshgate: what the two halves of the Redis client share: the
 * configuration (ngx_http_meshgate_redis_module.c) and the per-worker
 * connections (ngx_http_meshgate_redis_connection.c).
 */


#ifndef _NGX_HTTP_MESHGATE_REDIS_INTERNAL_H_INCLUDED_
#define _NGX_HTTP_MESHGATE_REDIS_INTERNAL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_meshgate.h"
#include "ngx_http_meshgate_redis.h"


#define NGX_HTTP_MESHGATE_REDIS_SHA1_LEN    40

/*
 * Per connection: command slots, and bytes of encoded commands kept until
 * their replies come (see ngx_http_meshgate_redis_connection.c).  The
 * buffer, a power of two, grows to the next one if the handshake and the
 * EVAL of the largest script need more than a quarter of it.
 */
#define NGX_HTTP_MESHGATE_REDIS_SLOTS       4096
#define NGX_HTTP_MESHGATE_REDIS_BUFFER      (256 * 1024)

/* per worker, shared by all connections: one recv() at a time */
#define NGX_HTTP_MESHGATE_REDIS_RECV_BUFFER (16 * 1024)

/*
 * Per connection: where the reply being read is built, the largest usual
 * one (limit_redis's largest batch) included; a larger reply takes the
 * rest from the heap.
 */
#define NGX_HTTP_MESHGATE_REDIS_ARENA       (48 * 1024)

#define NGX_HTTP_MESHGATE_REDIS_MAX_CONNECTIONS  64


typedef struct ngx_http_meshgate_redis_conn_s  ngx_http_meshgate_redis_conn_t;


struct ngx_http_meshgate_redis_script_s {
    ngx_http_meshgate_redis_server_t  *server;
    ngx_str_t                          source;
    u_char                             sha1[NGX_HTTP_MESHGATE_REDIS_SHA1_LEN];
};


struct ngx_http_meshgate_redis_server_s {
    ngx_str_t                          name;
    ngx_str_t                          address;     /* for log messages */
    ngx_addr_t                        *addr;

    ngx_str_t                          password;
    ngx_uint_t                         db;
    ngx_msec_t                         timeout;
    ngx_msec_t                         connect_timeout;
    ngx_uint_t                         nconnections;

    /* of ngx_http_meshgate_redis_script_t * */
    ngx_array_t                        scripts;

    /* the first reference, for "unknown redis server" */
    ngx_str_t                          ref_directive;
    ngx_str_t                          ref_file;
    ngx_uint_t                         ref_line;

    /* per worker, set in init_process */
    ngx_http_meshgate_redis_conn_t    *conns;
    ngx_uint_t                         ndown;

    unsigned                           declared:1;

    /* only servers that some module uses get connections */
    unsigned                           referenced:1;
};


typedef struct {
    /* of ngx_http_meshgate_redis_server_t * */
    ngx_array_t                        servers;

    /* per worker, set in init_process */
    u_char                            *recv_buffer;
    u_char                            *scratch;

    unsigned                           checked:1;
} ngx_http_meshgate_redis_main_conf_t;


ngx_int_t ngx_http_meshgate_redis_init_connections(ngx_cycle_t *cycle,
    ngx_http_meshgate_redis_main_conf_t *rmcf);
void ngx_http_meshgate_redis_close_connections(ngx_cycle_t *cycle,
    ngx_http_meshgate_redis_main_conf_t *rmcf);


#endif /* _NGX_HTTP_MESHGATE_REDIS_INTERNAL_H_INCLUDED_ */
