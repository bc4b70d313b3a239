
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: what the files of the Redis client share:
 *
 *   ngx_http_meshgate_redis_module.c      "redis_server", the registry of
 *                                         servers and scripts
 *   ngx_http_meshgate_redis_connection.c  connecting, the handshake, the
 *                                         socket's events, failure,
 *                                         reconnecting, stalls
 *   ngx_http_meshgate_redis_ring.c        queuing commands: their slots,
 *                                         the ring of their bytes, writing
 *   ngx_http_meshgate_redis_timer.c       the commands' deadlines
 *   ngx_http_meshgate_redis_reply.c       reading replies: framing, the
 *                                         arena, matching them to commands
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
 * their replies come (see ngx_http_meshgate_redis_ring.c).  The
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


typedef enum {
    NGX_HTTP_MESHGATE_REDIS_CLOSED = 0,
    NGX_HTTP_MESHGATE_REDIS_CONNECTING,
    NGX_HTTP_MESHGATE_REDIS_HANDSHAKE,
    NGX_HTTP_MESHGATE_REDIS_READY
} ngx_http_meshgate_redis_state_e;


/*
 * What a command is: the caller's, part of a connection's handshake, or
 * the PING that tests a stalled connection.
 */
typedef enum {
    NGX_HTTP_MESHGATE_REDIS_USER = 0,
    NGX_HTTP_MESHGATE_REDIS_AUTH,
    NGX_HTTP_MESHGATE_REDIS_SELECT,
    NGX_HTTP_MESHGATE_REDIS_LOAD,
    NGX_HTTP_MESHGATE_REDIS_PROBE
} ngx_http_meshgate_redis_kind_e;


struct ngx_http_meshgate_redis_cmd_s {
    ngx_queue_t                           queue;

    /* NULL once the caller is gone: cancelled, or told of a timeout */
    ngx_http_meshgate_redis_handler_pt    handler;
    void                                 *data;

    /* EVALSHA's script; SCRIPT LOAD's */
    ngx_http_meshgate_redis_script_t     *script;

    ngx_msec_t                            deadline;

    /* positions in the ring; "args" is where EVALSHA's numkeys starts */
    size_t                                start;
    size_t                                end;
    size_t                                args;
    ngx_uint_t                            argc;

    /* the bounds of the reply, see mg_resp.h */
    size_t                                reply_size;
    uint32_t                              reply_elements;

    unsigned                              reply_depth:3;
    unsigned                              kind:3;
    unsigned                              retry:1;
};


struct ngx_http_meshgate_redis_conn_s {
    ngx_http_meshgate_redis_server_t     *server;
    ngx_http_meshgate_redis_main_conf_t  *rmcf;

    ngx_peer_connection_t                 peer;
    redisReader                          *reader;

    /* the reply being read, and what of it did not fit into the arena */
    u_char                               *arena;
    size_t                                used;
    void                                 *overflow;

    /* its framing, within the bounds of its command */
    mg_resp_reader_t                      frame;

    /* a copy of the cycle's log, to add context and to mute repeats */
    ngx_log_t                             log;
    ngx_uint_t                            log_level;

    ngx_http_meshgate_redis_cmd_t        *cmds;
    ngx_queue_t                           free;
    ngx_queue_t                           pending;
    ngx_uint_t                            npending;
    ngx_uint_t                            nretries;
    ngx_uint_t                            nhandshake;

    u_char                               *buffer;
    size_t                                size;
    size_t                                tail;
    size_t                                sent;
    size_t                                head;

    ngx_event_t                           deadline;
    ngx_event_t                           flush;
    ngx_event_t                           reconnect;
    ngx_msec_t                            backoff;

    ngx_uint_t                            state;

    unsigned                              down:1;

    /* a command timed out, and Redis has not answered the PING since */
    unsigned                              stalled:1;

    /* a reply has begun: the framing reader has its bounds */
    unsigned                              reading:1;

    /* a caller was turned away for want of room since the last reply */
    unsigned                              full:1;
};


/*
 * The caller, or the handshake, still waits for the reply; a PING's
 * deadline means nothing: Redis takes its time or the connection goes
 * stale (ngx_http_meshgate_redis_deadline_handler())
 */
#define ngx_http_meshgate_redis_live(cmd)                                     \
    ((cmd)->handler != NULL                                                   \
     || ((cmd)->kind != NGX_HTTP_MESHGATE_REDIS_USER                          \
         && (cmd)->kind != NGX_HTTP_MESHGATE_REDIS_PROBE))


/* ngx_http_meshgate_redis_connection.c */
ngx_int_t ngx_http_meshgate_redis_init_connections(ngx_cycle_t *cycle,
    ngx_http_meshgate_redis_main_conf_t *rmcf);
void ngx_http_meshgate_redis_close_connections(ngx_cycle_t *cycle,
    ngx_http_meshgate_redis_main_conf_t *rmcf);
void ngx_http_meshgate_redis_healthy(ngx_http_meshgate_redis_conn_t *conn);
void ngx_http_meshgate_redis_stall(ngx_http_meshgate_redis_conn_t *conn);
ngx_int_t ngx_http_meshgate_redis_handshake_reply(
    ngx_http_meshgate_redis_conn_t *conn, ngx_http_meshgate_redis_cmd_t *cmd,
    redisReply *reply);
void ngx_http_meshgate_redis_fail(ngx_http_meshgate_redis_conn_t *conn,
    const char *reason);

/* ngx_http_meshgate_redis_ring.c */
ngx_int_t ngx_http_meshgate_redis_internal(
    ngx_http_meshgate_redis_conn_t *conn, ngx_uint_t kind, ngx_uint_t argc,
    mg_str_t *argv, ngx_http_meshgate_redis_script_t *script);
ngx_int_t ngx_http_meshgate_redis_flush(ngx_http_meshgate_redis_conn_t *conn);
ngx_int_t ngx_http_meshgate_redis_resend(ngx_http_meshgate_redis_conn_t *conn,
    ngx_http_meshgate_redis_cmd_t *cmd);
void ngx_http_meshgate_redis_release(ngx_http_meshgate_redis_conn_t *conn);

/* ngx_http_meshgate_redis_timer.c */
void ngx_http_meshgate_redis_deadline_handler(ngx_event_t *ev);
void ngx_http_meshgate_redis_arm(ngx_http_meshgate_redis_conn_t *conn,
    ngx_msec_t deadline);

/* ngx_http_meshgate_redis_reply.c */
redisReader *ngx_http_meshgate_redis_create_reader(
    ngx_http_meshgate_redis_conn_t *conn);
ngx_int_t ngx_http_meshgate_redis_read(ngx_http_meshgate_redis_conn_t *conn,
    u_char *buf, size_t n);
void ngx_http_meshgate_redis_free_reply(ngx_http_meshgate_redis_conn_t *conn);


#endif /* _NGX_HTTP_MESHGATE_REDIS_INTERNAL_H_INCLUDED_ */
