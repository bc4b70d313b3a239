
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the commands of the shared Redis client, from the caller to
 * the socket: which connection takes a command, its slot, its encoded
 * bytes in the connection's ring, and writing the ring.
 *
 * Per connection:
 *
 * - a fixed array of NGX_HTTP_MESHGATE_REDIS_SLOTS command objects, taken
 *   from a free list and put back after the handler runs: nothing is
 *   allocated per command, and the queue is bounded;
 *
 * - "pending", the commands sent or to be sent, in the order in which
 *   their replies will arrive: Redis answers each connection in order, so
 *   the oldest pending command owns the next reply;
 *
 * - a ring of bytes holding the encoded commands, from the oldest pending
 *   one ("tail") through what is written ("sent") to the end ("head").
 *   Bytes stay there until the reply comes, not just until they are
 *   written, because an EVALSHA answered with NOSCRIPT is sent again as
 *   EVAL, and its keys and arguments must still be at hand.  Being fixed,
 *   the ring also bounds the memory of a connection;
 *
 * - a posted event that writes the ring: the commands of all the requests
 *   that run in one iteration of the event loop go out in one send().
 */


#include "ngx_http_meshgate_redis_internal.h"

#include "mg_resp.h"


static ngx_http_meshgate_redis_conn_t *ngx_http_meshgate_redis_pick(
    ngx_http_meshgate_redis_server_t *server, size_t size, ngx_log_t *log,
    ngx_int_t *rc);
static ngx_http_meshgate_redis_cmd_t *ngx_http_meshgate_redis_alloc(
    ngx_http_meshgate_redis_conn_t *conn);
static void ngx_http_meshgate_redis_bound(ngx_http_meshgate_redis_cmd_t *cmd,
    const mg_resp_limits_t *limits);
static void ngx_http_meshgate_redis_submit(
    ngx_http_meshgate_redis_conn_t *conn, ngx_http_meshgate_redis_cmd_t *c,
    u_char *start, size_t size, ngx_uint_t argc,
    const mg_resp_limits_t *limits, ngx_http_meshgate_redis_handler_pt handler,
    void *data);
static void ngx_http_meshgate_redis_enqueue(
    ngx_http_meshgate_redis_conn_t *conn, ngx_http_meshgate_redis_cmd_t *cmd);
static u_char *ngx_http_meshgate_redis_reserve(
    ngx_http_meshgate_redis_conn_t *conn, size_t len);
static void ngx_http_meshgate_redis_commit(
    ngx_http_meshgate_redis_conn_t *conn, u_char *p, size_t len);
static void ngx_http_meshgate_redis_copy(ngx_http_meshgate_redis_conn_t *conn,
    u_char *dst, size_t from, size_t len);


#define ngx_http_meshgate_redis_room(conn)                                    \
    ((conn)->size - ((conn)->head - (conn)->tail))

/*
 * Open, not stalled, and either up or ready to take the one command that
 * tests it
 */
#define ngx_http_meshgate_redis_usable(conn)                                  \
    ((conn)->state != NGX_HTTP_MESHGATE_REDIS_CLOSED                          \
     && !(conn)->stalled                                                      \
     && (!(conn)->down                                                        \
         || ((conn)->state == NGX_HTTP_MESHGATE_REDIS_READY                   \
             && (conn)->npending == 0)))


static ngx_str_t  ngx_http_meshgate_redis_evalsha = ngx_string("EVALSHA");


ngx_int_t
ngx_http_meshgate_redis_send(ngx_http_meshgate_redis_server_t *server,
    ngx_uint_t argc, ngx_str_t *argv, const mg_resp_limits_t *limits,
    ngx_http_meshgate_redis_handler_pt handler, void *data, ngx_log_t *log,
    ngx_http_meshgate_redis_cmd_t **cmd)
{
    u_char                          *p, *start;
    size_t                           size, n;
    ngx_int_t                        rc;
    ngx_uint_t                       i;
    ngx_http_meshgate_redis_cmd_t   *c;
    ngx_http_meshgate_redis_conn_t  *conn;

    if (argc == 0) {
        return NGX_ERROR;
    }

    size = mg_resp_array_size(argc);

    for (i = 0; i < argc; i++) {
        n = mg_resp_bulk_size(argv[i].len);
        if (n == 0 || size > (size_t) -1 - n) {
            return NGX_ERROR;
        }

        size += n;
    }

    conn = ngx_http_meshgate_redis_pick(server, size, log, &rc);
    if (conn == NULL) {
        return rc;
    }

    c = ngx_http_meshgate_redis_alloc(conn);

    c->start = conn->head;

    start = ngx_http_meshgate_redis_reserve(conn, size);

    p = mg_resp_array(start, argc);

    for (i = 0; i < argc; i++) {
        p = mg_resp_bulk(p, argv[i].data, argv[i].len);
    }

    ngx_http_meshgate_redis_submit(conn, c, start, size, argc, limits,
                                   handler, data);

    *cmd = c;

    return NGX_OK;
}


ngx_int_t
ngx_http_meshgate_redis_eval(ngx_http_meshgate_redis_script_t *script,
    ngx_uint_t nkeys, ngx_str_t *keys, ngx_uint_t nargs, ngx_str_t *args,
    const mg_resp_limits_t *limits,
    ngx_http_meshgate_redis_handler_pt handler, void *data, ngx_log_t *log,
    ngx_http_meshgate_redis_cmd_t **cmd)
{
    u_char                          *p, *start, num[NGX_INT_T_LEN];
    size_t                           size, n, len;
    ngx_int_t                        rc;
    ngx_uint_t                       i, argc;
    ngx_http_meshgate_redis_cmd_t   *c;
    ngx_http_meshgate_redis_conn_t  *conn;

    len = ngx_sprintf(num, "%ui", nkeys) - num;

    argc = 3 + nkeys + nargs;

    size = mg_resp_array_size(argc)
           + mg_resp_bulk_size(ngx_http_meshgate_redis_evalsha.len)
           + mg_resp_bulk_size(NGX_HTTP_MESHGATE_REDIS_SHA1_LEN)
           + mg_resp_bulk_size(len);

    for (i = 0; i < nkeys + nargs; i++) {
        n = mg_resp_bulk_size(i < nkeys ? keys[i].len : args[i - nkeys].len);
        if (n == 0 || size > (size_t) -1 - n) {
            return NGX_ERROR;
        }

        size += n;
    }

    conn = ngx_http_meshgate_redis_pick(script->server, size, log, &rc);
    if (conn == NULL) {
        return rc;
    }

    c = ngx_http_meshgate_redis_alloc(conn);

    c->start = conn->head;

    start = ngx_http_meshgate_redis_reserve(conn, size);

    p = mg_resp_array(start, argc);
    p = mg_resp_bulk(p, ngx_http_meshgate_redis_evalsha.data,
                     ngx_http_meshgate_redis_evalsha.len);
    p = mg_resp_bulk(p, script->sha1, NGX_HTTP_MESHGATE_REDIS_SHA1_LEN);

    c->args = c->start + (p - start);

    p = mg_resp_bulk(p, num, len);

    for (i = 0; i < nkeys; i++) {
        p = mg_resp_bulk(p, keys[i].data, keys[i].len);
    }

    for (i = 0; i < nargs; i++) {
        p = mg_resp_bulk(p, args[i].data, args[i].len);
    }

    c->script = script;

    ngx_http_meshgate_redis_submit(conn, c, start, size, argc, limits,
                                   handler, data);

    *cmd = c;

    return NGX_OK;
}


void
ngx_http_meshgate_redis_cancel(ngx_http_meshgate_redis_cmd_t *cmd)
{
    /*
     * The command stays in the pipeline: its reply is on its way and must
     * still be matched to it, only nobody is told.
     */

    cmd->handler = NULL;
    cmd->data = NULL;
}


ngx_int_t
ngx_http_meshgate_redis_internal(ngx_http_meshgate_redis_conn_t *conn,
    ngx_uint_t kind, ngx_uint_t argc, mg_str_t *argv,
    ngx_http_meshgate_redis_script_t *script)
{
    u_char                         *p;
    size_t                          size;
    ngx_http_meshgate_redis_cmd_t  *cmd;

    size = mg_resp_command_size(argc, argv);

    if (size == 0
        || size > ngx_http_meshgate_redis_room(conn)
        || ngx_queue_empty(&conn->free))
    {
        return NGX_ERROR;
    }

    cmd = ngx_http_meshgate_redis_alloc(conn);

    cmd->start = conn->head;

    p = ngx_http_meshgate_redis_reserve(conn, size);
    (void) mg_resp_command(p, argc, argv);
    ngx_http_meshgate_redis_commit(conn, p, size);

    cmd->end = conn->head;
    cmd->argc = argc;
    cmd->kind = kind;
    cmd->script = script;

    /*
     * The replies are a status, an error or a SHA1: within the bytes every
     * reply may have.
     */

    cmd->reply_size = 0;
    cmd->reply_elements = 0;
    cmd->reply_depth = 0;

    if (kind != NGX_HTTP_MESHGATE_REDIS_PROBE) {

        /* connecting counts against the handshake, not the user's timeout */

        cmd->deadline += conn->server->connect_timeout;
        conn->nhandshake++;
    }

    ngx_http_meshgate_redis_enqueue(conn, cmd);

    return NGX_OK;
}


ngx_int_t
ngx_http_meshgate_redis_flush(ngx_http_meshgate_redis_conn_t *conn)
{
    size_t             off, len;
    ssize_t            n;
    ngx_connection_t  *c;

    c = conn->peer.connection;

    if (conn->flush.posted) {
        ngx_delete_posted_event(&conn->flush);
    }

    while (conn->sent != conn->head && c->write->ready) {
        off = conn->sent % conn->size;
        len = ngx_min(conn->head - conn->sent, conn->size - off);

        n = c->send(c, conn->buffer + off, len);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN) {
            break;
        }

        conn->sent += n;
    }

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_meshgate_redis_resend(ngx_http_meshgate_redis_conn_t *conn,
    ngx_http_meshgate_redis_cmd_t *cmd)
{
    u_char                            *p, *start;
    size_t                             size, tail;
    ngx_http_meshgate_redis_script_t  *script;

    /*
     * Redis lost the script (SCRIPT FLUSH, a failover to a replica that
     * never saw it): the same command as EVAL, with the source, goes to
     * the end of the pipeline.  EVAL caches the script again, so the next
     * EVALSHA works.  The original bytes are still in the ring, the
     * command being the oldest one.
     */

    script = cmd->script;
    tail = cmd->end - cmd->args;

    size = mg_resp_array_size(cmd->argc) + mg_resp_bulk_size(4)
           + mg_resp_bulk_size(script->source.len) + tail;

    /*
     * The EVAL replaces the EVALSHA, whose bytes it may take over in a
     * full ring: then it is put together aside, from the EVALSHA's bytes,
     * before it overwrites them.
     */

    if (size > conn->size - (conn->head - cmd->end)) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_INFO, &conn->log, 0,
                  "redis does not know script %*s, sending it with EVAL",
                  (size_t) NGX_HTTP_MESHGATE_REDIS_SHA1_LEN, script->sha1);

    if (size > ngx_http_meshgate_redis_room(conn)) {
        start = conn->rmcf->scratch;

    } else {
        start = ngx_http_meshgate_redis_reserve(conn, size);
    }

    p = mg_resp_array(start, cmd->argc);
    p = mg_resp_bulk(p, (const unsigned char *) "EVAL", 4);
    p = mg_resp_bulk(p, script->source.data, script->source.len);

    ngx_http_meshgate_redis_copy(conn, p, cmd->args, tail);

    cmd->start = conn->head;
    cmd->end = conn->head + size;

    /* an EVAL is not resent again */

    cmd->args = 0;
    cmd->retry = 1;
    conn->nretries++;

    ngx_http_meshgate_redis_commit(conn, start, size);

    ngx_queue_insert_tail(&conn->pending, &cmd->queue);
    conn->npending++;

    ngx_http_meshgate_redis_arm(conn, cmd->deadline);

    if (!conn->flush.posted) {
        ngx_post_event(&conn->flush, &ngx_posted_events);
    }

    return NGX_OK;
}


static ngx_http_meshgate_redis_conn_t *
ngx_http_meshgate_redis_pick(ngx_http_meshgate_redis_server_t *server,
    size_t size, ngx_log_t *log, ngx_int_t *rc)
{
    ngx_uint_t                       i;
    ngx_queue_t                     *q;
    ngx_http_meshgate_redis_cmd_t   *cmd;
    ngx_http_meshgate_redis_conn_t  *conn, *best, *up;

    best = NULL;
    up = NULL;

    /* the connection with the fewest commands waiting that has room */

    for (i = 0; server->conns && i < server->nconnections; i++) {
        conn = &server->conns[i];

        if (!ngx_http_meshgate_redis_usable(conn)) {
            continue;
        }

        up = conn;

        if (ngx_queue_empty(&conn->free)
            || size > ngx_http_meshgate_redis_room(conn))
        {
            continue;
        }

        if (best == NULL || conn->npending < best->npending) {
            best = conn;
        }
    }

    if (best) {
        return best;
    }

    if (up == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "redis server \"%V\" is down", &server->name);
        *rc = NGX_DECLINED;
        return NULL;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "redis server \"%V\" is busy", &server->name);

    /*
     * Every connection that is up is full.  If the oldest command of one
     * has already given up, its deadline timer is told to look at it now
     * rather than later.
     */

    for (i = 0; i < server->nconnections; i++) {
        conn = &server->conns[i];

        if (!ngx_http_meshgate_redis_usable(conn)
            || ngx_queue_empty(&conn->pending))
        {
            continue;
        }

        conn->full = 1;

        q = ngx_queue_head(&conn->pending);
        cmd = ngx_queue_data(q, ngx_http_meshgate_redis_cmd_t, queue);

        if (!ngx_http_meshgate_redis_live(cmd)) {
            if (conn->deadline.timer_set) {
                ngx_del_timer(&conn->deadline);
            }

            ngx_add_timer(&conn->deadline, 1);
        }
    }

    *rc = NGX_BUSY;
    return NULL;
}


static ngx_http_meshgate_redis_cmd_t *
ngx_http_meshgate_redis_alloc(ngx_http_meshgate_redis_conn_t *conn)
{
    ngx_queue_t                    *q;
    ngx_http_meshgate_redis_cmd_t  *cmd;

    /* the caller has checked that the free list is not empty */

    q = ngx_queue_head(&conn->free);
    ngx_queue_remove(q);

    cmd = ngx_queue_data(q, ngx_http_meshgate_redis_cmd_t, queue);

    cmd->handler = NULL;
    cmd->data = NULL;
    cmd->script = NULL;
    cmd->args = 0;
    cmd->kind = NGX_HTTP_MESHGATE_REDIS_USER;
    cmd->retry = 0;
    cmd->deadline = ngx_current_msec + conn->server->timeout;

    return cmd;
}


static void
ngx_http_meshgate_redis_bound(ngx_http_meshgate_redis_cmd_t *cmd,
    const mg_resp_limits_t *limits)
{
    if (limits == NULL) {
        cmd->reply_size = NGX_HTTP_MESHGATE_REDIS_REPLY_SIZE;
        cmd->reply_elements = NGX_HTTP_MESHGATE_REDIS_REPLY_ELEMENTS;
        cmd->reply_depth = 2;
        return;
    }

    /* mg_resp_read() takes no more than these anyway */

    cmd->reply_size = limits->size;
    cmd->reply_elements = ngx_min(limits->elements, 0x7fffffff);
    cmd->reply_depth = ngx_min(limits->depth, MG_RESP_MAX_DEPTH);
}


/*
 * A command encoded into the ring at start: it becomes the connection's,
 * with its reply's bounds, in the order of its deadline.
 */

static void
ngx_http_meshgate_redis_submit(ngx_http_meshgate_redis_conn_t *conn,
    ngx_http_meshgate_redis_cmd_t *c, u_char *start, size_t size,
    ngx_uint_t argc, const mg_resp_limits_t *limits,
    ngx_http_meshgate_redis_handler_pt handler, void *data)
{
    ngx_http_meshgate_redis_commit(conn, start, size);

    c->end = conn->head;
    c->argc = argc;
    c->handler = handler;
    c->data = data;

    ngx_http_meshgate_redis_bound(c, limits);

    ngx_http_meshgate_redis_enqueue(conn, c);
}


static void
ngx_http_meshgate_redis_enqueue(ngx_http_meshgate_redis_conn_t *conn,
    ngx_http_meshgate_redis_cmd_t *cmd)
{
    ngx_queue_insert_tail(&conn->pending, &cmd->queue);
    conn->npending++;

    ngx_http_meshgate_redis_arm(conn, cmd->deadline);

    /* while connecting, the connect handler writes what has piled up */

    if (conn->state >= NGX_HTTP_MESHGATE_REDIS_HANDSHAKE
        && !conn->flush.posted)
    {
        ngx_post_event(&conn->flush, &ngx_posted_events);
    }
}


void
ngx_http_meshgate_redis_release(ngx_http_meshgate_redis_conn_t *conn)
{
    ngx_http_meshgate_redis_cmd_t  *cmd;

    if (!ngx_queue_empty(&conn->pending)) {
        cmd = ngx_queue_data(ngx_queue_head(&conn->pending),
                             ngx_http_meshgate_redis_cmd_t, queue);
        conn->tail = cmd->start;
        return;
    }

    if (conn->deadline.timer_set) {
        ngx_del_timer(&conn->deadline);
    }

    conn->tail = conn->head;

    /* an idle connection starts over at the ring's start: fewer wraps */

    if (conn->sent == conn->head) {
        conn->tail = 0;
        conn->sent = 0;
        conn->head = 0;
    }
}


static u_char *
ngx_http_meshgate_redis_reserve(ngx_http_meshgate_redis_conn_t *conn,
    size_t len)
{
    size_t  off;

    /*
     * The encoders write contiguous bytes: a command that would wrap
     * around the end of the ring is written aside and copied in two parts
     * by ngx_http_meshgate_redis_commit().
     */

    off = conn->head % conn->size;

    if (conn->size - off >= len) {
        return conn->buffer + off;
    }

    return conn->rmcf->scratch;
}


static void
ngx_http_meshgate_redis_commit(ngx_http_meshgate_redis_conn_t *conn,
    u_char *p, size_t len)
{
    size_t  off, n;

    if (p == conn->rmcf->scratch) {
        off = conn->head % conn->size;
        n = ngx_min(len, conn->size - off);

        ngx_memcpy(conn->buffer + off, p, n);
        ngx_memcpy(conn->buffer, p + n, len - n);
    }

    conn->head += len;
}


static void
ngx_http_meshgate_redis_copy(ngx_http_meshgate_redis_conn_t *conn,
    u_char *dst, size_t from, size_t len)
{
    size_t  off, n;

    off = from % conn->size;
    n = ngx_min(len, conn->size - off);

    ngx_memcpy(dst, conn->buffer + off, n);
    ngx_memcpy(dst + n, conn->buffer, len - n);
}
