
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the replies of the shared Redis client: cutting the received
 * bytes into replies, building them with hiredis's reader, and handing
 * each to the command it answers.
 *
 * Per connection:
 *
 * - an arena where hiredis's reader builds the reply being read, instead
 *   of allocating each of its elements: a reply lives until its handler
 *   returns, and the reader builds one reply at a time, so the arena is
 *   emptied once a reply is done (ngx_http_meshgate_redis_reply_alloc());
 *
 * - a framing reader (mg_resp_read()) that the received bytes go through
 *   before hiredis's reader sees them, one reply at a time, within the
 *   bounds of the command that the reply answers: hiredis allocates what
 *   a header announces and keeps what arrives until a bulk string is
 *   complete, so without bounds one header from a broken or hostile
 *   server could cost gigabytes.  A reply over its bounds is a protocol
 *   error, handled as a broken connection.
 */


#include "ngx_http_meshgate_redis_internal.h"

#include "mg_resp.h"


static ngx_int_t ngx_http_meshgate_redis_process(
    ngx_http_meshgate_redis_conn_t *conn, u_char *reason, size_t len);
static ngx_int_t ngx_http_meshgate_redis_complete(
    ngx_http_meshgate_redis_conn_t *conn, ngx_http_meshgate_redis_cmd_t *cmd,
    redisReply *reply);
static void *ngx_http_meshgate_redis_create_string(const redisReadTask *task,
    char *str, size_t len);
#if (HIREDIS_MAJOR >= 1)
static void *ngx_http_meshgate_redis_create_array(const redisReadTask *task,
    size_t elements);
static void *ngx_http_meshgate_redis_create_double(const redisReadTask *task,
    double value, char *str, size_t len);
static void *ngx_http_meshgate_redis_create_bool(const redisReadTask *task,
    int value);
#else
static void *ngx_http_meshgate_redis_create_array(const redisReadTask *task,
    int elements);
#endif
static void *ngx_http_meshgate_redis_create_integer(const redisReadTask *task,
    long long value);
static void *ngx_http_meshgate_redis_create_nil(const redisReadTask *task);
static void ngx_http_meshgate_redis_free_object(void *obj);
static redisReply *ngx_http_meshgate_redis_reply_object(
    const redisReadTask *task, int type);
static void *ngx_http_meshgate_redis_reply_alloc(
    ngx_http_meshgate_redis_conn_t *conn, size_t size);


static redisReplyObjectFunctions  ngx_http_meshgate_redis_reply_functions = {
    ngx_http_meshgate_redis_create_string,
    ngx_http_meshgate_redis_create_array,
    ngx_http_meshgate_redis_create_integer,
#if (HIREDIS_MAJOR >= 1)
    ngx_http_meshgate_redis_create_double,
#endif
    ngx_http_meshgate_redis_create_nil,
#if (HIREDIS_MAJOR >= 1)
    ngx_http_meshgate_redis_create_bool,
#endif
    ngx_http_meshgate_redis_free_object
};


/* a new connection's reader, building its replies in its arena */

redisReader *
ngx_http_meshgate_redis_create_reader(ngx_http_meshgate_redis_conn_t *conn)
{
    redisReader  *reader;

    reader = redisReaderCreateWithFunctions(
                                     &ngx_http_meshgate_redis_reply_functions);
    if (reader == NULL) {
        return NULL;
    }

    reader->privdata = conn;

    return reader;
}


/*
 * Received bytes: the framing reader cuts them into replies, and checks
 * each against the bounds of the command it answers, before hiredis's
 * reader sees any of its bytes; hiredis then builds one reply at a time.
 * Returns NGX_ERROR when the connection has failed.
 */

ngx_int_t
ngx_http_meshgate_redis_read(ngx_http_meshgate_redis_conn_t *conn,
    u_char *buf, size_t n)
{
    int                             rc;
    u_char                          reason[160], *p;
    size_t                          used;
    ngx_int_t                       done;
    mg_resp_limits_t                limits;
    mg_resp_reader_t               *frame;
    ngx_http_meshgate_redis_cmd_t  *cmd;

    frame = &conn->frame;

    while (n) {

        if (!conn->reading) {

            /* Redis answers in order: the oldest command owns the reply */

            if (ngx_queue_empty(&conn->pending)) {
                ngx_http_meshgate_redis_fail(conn, "a reply to no command");
                return NGX_ERROR;
            }

            cmd = ngx_queue_data(ngx_queue_head(&conn->pending),
                                 ngx_http_meshgate_redis_cmd_t, queue);

            limits.size = ngx_max(cmd->reply_size,
                                  NGX_HTTP_MESHGATE_REDIS_REPLY_MIN);
            limits.elements = cmd->reply_elements;
            limits.depth = cmd->reply_depth;

            mg_resp_reader_init(frame, &limits);
            conn->reading = 1;
        }

        rc = mg_resp_read(frame, buf, n, &used);

        if (rc == MG_RESP_ERROR) {

            /* the reason goes into the one line that logs the failure */

            if (frame->bound) {
                p = ngx_snprintf(reason, sizeof(reason) - 1,
                                 "reply over its bounds, %s: %uL, at most %uL",
                                 frame->error, frame->value, frame->max);

            } else {
                p = ngx_snprintf(reason, sizeof(reason) - 1, "bad reply, %s",
                                 frame->error);
            }

            *p = '\0';

            ngx_http_meshgate_redis_fail(conn, (char *) reason);
            return NGX_ERROR;
        }

        if (redisReaderFeed(conn->reader, (const char *) buf, used)
            != REDIS_OK)
        {
            ngx_http_meshgate_redis_fail(conn, "out of memory");
            return NGX_ERROR;
        }

        buf += used;
        n -= used;

        if (rc == MG_RESP_AGAIN) {
            break;
        }

        conn->reading = 0;

        done = ngx_http_meshgate_redis_process(conn, reason, sizeof(reason));

        if (done != NGX_OK) {
            ngx_http_meshgate_redis_fail(conn, done == NGX_DECLINED
                                               ? "handshake failed"
                                               : (char *) reason);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a whole reply has been fed to hiredis's reader: it goes to its command */

static ngx_int_t
ngx_http_meshgate_redis_process(ngx_http_meshgate_redis_conn_t *conn,
    u_char *reason, size_t len)
{
    u_char                         *p;
    void                           *reply;
    ngx_http_meshgate_redis_cmd_t  *cmd;

    if (redisReaderGetReply(conn->reader, &reply) != REDIS_OK) {
        p = ngx_snprintf(reason, len - 1, "bad reply, %s",
                         conn->reader->errstr);
        *p = '\0';
        return NGX_ERROR;
    }

    /* the two readers disagree on where the reply ends: never expected */

    if (reply == NULL) {
        (void) ngx_cpystrn(reason, (u_char *) "bad reply, incomplete", len);
        return NGX_ERROR;
    }

    cmd = ngx_queue_data(ngx_queue_head(&conn->pending),
                         ngx_http_meshgate_redis_cmd_t, queue);

    return ngx_http_meshgate_redis_complete(conn, cmd, reply);
}


static ngx_int_t
ngx_http_meshgate_redis_complete(ngx_http_meshgate_redis_conn_t *conn,
    ngx_http_meshgate_redis_cmd_t *cmd, redisReply *reply)
{
    void                                *data;
    ngx_int_t                            rc;
    ngx_http_meshgate_redis_handler_pt   handler;

    ngx_queue_remove(&cmd->queue);
    conn->npending--;
    conn->full = 0;

    if (cmd->retry) {
        cmd->retry = 0;
        conn->nretries--;
    }

    /*
     * Any reply to a caller's command, an error or NOSCRIPT included, is
     * Redis at work, except while the connection is stalled: then only the
     * reply to the PING is.  It is seen before the handler runs, so that
     * what the handler sends may use the connection at once.
     */

    if (conn->down
        && (cmd->kind == NGX_HTTP_MESHGATE_REDIS_PROBE
            || (cmd->kind == NGX_HTTP_MESHGATE_REDIS_USER && !conn->stalled)))
    {
        ngx_http_meshgate_redis_healthy(conn);
    }

    rc = NGX_OK;
    handler = NULL;
    data = NULL;

    if (cmd->kind == NGX_HTTP_MESHGATE_REDIS_PROBE) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, &conn->log, 0,
                       "redis answered the PING");

    } else if (cmd->kind != NGX_HTTP_MESHGATE_REDIS_USER) {
        rc = ngx_http_meshgate_redis_handshake_reply(conn, cmd, reply);

    } else if (cmd->handler) {

        if (cmd->script
            && cmd->args
            && reply->type == REDIS_REPLY_ERROR
            && reply->len >= 8
            && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
            && ngx_http_meshgate_redis_resend(conn, cmd) == NGX_OK)
        {
            /* the caller hears of the EVAL's reply instead */

            ngx_http_meshgate_redis_free_reply(conn);
            ngx_http_meshgate_redis_release(conn);
            return NGX_OK;
        }

        handler = cmd->handler;
        data = cmd->data;
    }

    ngx_http_meshgate_redis_release(conn);

    /*
     * The command goes back to the free list only after its handler: the
     * caller may still hold its pointer until then.
     */

    cmd->handler = NULL;
    cmd->data = NULL;

    if (handler) {
        handler(data, NGX_OK, reply);
    }

    ngx_http_meshgate_redis_free_reply(conn);

    ngx_queue_insert_tail(&conn->free, &cmd->queue);

    return rc;
}


static void *
ngx_http_meshgate_redis_create_string(const redisReadTask *task, char *str,
    size_t len)
{
    u_char      *p;
    redisReply  *r;

    r = ngx_http_meshgate_redis_reply_object(task, task->type);
    if (r == NULL) {
        return NULL;
    }

    p = ngx_http_meshgate_redis_reply_alloc(task->privdata, len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, str, len);
    p[len] = '\0';

    r->str = (char *) p;
    r->len = len;

    return r;
}


#if (HIREDIS_MAJOR >= 1)

static void *
ngx_http_meshgate_redis_create_array(const redisReadTask *task,
    size_t elements)

#else

static void *
ngx_http_meshgate_redis_create_array(const redisReadTask *task, int elements)

#endif
{
    redisReply  *r;

    r = ngx_http_meshgate_redis_reply_object(task, REDIS_REPLY_ARRAY);
    if (r == NULL) {
        return NULL;
    }

    if (elements > 0) {
        r->element = ngx_http_meshgate_redis_reply_alloc(task->privdata,
                                               elements * sizeof(redisReply *));
        if (r->element == NULL) {
            return NULL;
        }

        ngx_memzero(r->element, elements * sizeof(redisReply *));
    }

    r->elements = elements;

    return r;
}


static void *
ngx_http_meshgate_redis_create_integer(const redisReadTask *task,
    long long value)
{
    redisReply  *r;

    r = ngx_http_meshgate_redis_reply_object(task, REDIS_REPLY_INTEGER);
    if (r == NULL) {
        return NULL;
    }

    r->integer = value;

    return r;
}


#if (HIREDIS_MAJOR >= 1)

/* RESP3 only; the client speaks RESP2, but the reader knows them */

static void *
ngx_http_meshgate_redis_create_double(const redisReadTask *task,
    double value, char *str, size_t len)
{
    redisReply  *r;

    r = ngx_http_meshgate_redis_create_string(task, str, len);
    if (r == NULL) {
        return NULL;
    }

    r->dval = value;

    return r;
}


static void *
ngx_http_meshgate_redis_create_bool(const redisReadTask *task, int value)
{
    redisReply  *r;

    r = ngx_http_meshgate_redis_reply_object(task, REDIS_REPLY_BOOL);
    if (r == NULL) {
        return NULL;
    }

    r->integer = (value != 0);

    return r;
}

#endif


static void *
ngx_http_meshgate_redis_create_nil(const redisReadTask *task)
{
    return ngx_http_meshgate_redis_reply_object(task, REDIS_REPLY_NIL);
}


/* the objects go with the arena, by ngx_http_meshgate_redis_free_reply() */

static void
ngx_http_meshgate_redis_free_object(void *obj)
{
}


static redisReply *
ngx_http_meshgate_redis_reply_object(const redisReadTask *task, int type)
{
    redisReply  *r, *parent;

    r = ngx_http_meshgate_redis_reply_alloc(task->privdata,
                                            sizeof(redisReply));
    if (r == NULL) {
        return NULL;
    }

    ngx_memzero(r, sizeof(redisReply));

    r->type = type;

    if (task->parent) {
        parent = task->parent->obj;
        parent->element[task->idx] = r;
    }

    return r;
}


/*
 * No memory is allocated per reply: the arena holds the usual ones whole.
 * A larger reply takes the rest from the heap, one block per object, all
 * freed with the reply.
 */

static void *
ngx_http_meshgate_redis_reply_alloc(ngx_http_meshgate_redis_conn_t *conn,
    size_t size)
{
    void    **block;
    u_char   *p;

    size = ngx_align(size, sizeof(void *));

    if (NGX_HTTP_MESHGATE_REDIS_ARENA - conn->used >= size) {
        p = conn->arena + conn->used;
        conn->used += size;
        return p;
    }

    block = ngx_alloc(sizeof(void *) + size, &conn->log);
    if (block == NULL) {
        return NULL;
    }

    *block = conn->overflow;
    conn->overflow = block;

    return block + 1;
}


void
ngx_http_meshgate_redis_free_reply(ngx_http_meshgate_redis_conn_t *conn)
{
    void  **block, **next;

    for (block = conn->overflow; block; block = next) {
        next = *block;
        ngx_free(block);
    }

    conn->overflow = NULL;
    conn->used = 0;
}
