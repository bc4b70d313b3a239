
/*
 * meshgate: the per-worker connections of the shared Redis client.
 *
 * Why nginx's own connection and only hiredis's reply reader: a socket
 * made by ngx_event_connect_peer() is an ordinary nginx connection, so it
 * is counted in worker_connections, driven by whatever event method the
 * worker uses, logged like any other connection, and closed by the same
 * machinery on reload and shutdown; hiredis's async context would need an
 * adapter and would own the socket, the output buffer and the timers, none
 * of which it bounds the way we need.  Its reply reader, on the other hand,
 * is a plain byte-in, reply-out parser, well tested, and exactly what is
 * left once the event loop is nginx's.
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
 *   that run in one iteration of the event loop go out in one send();
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
 *   error, handled as a broken connection;
 *
 * - one timer for the deadlines ("timeout=").  Commands join the queue in
 *   the order of their deadlines, so the oldest pending command always
 *   expires first and one timer is enough; it is moved lazily, when it
 *   fires, rather than once per reply.  An expired command stays in the
 *   queue, handler gone, until its reply comes and is dropped.  The one
 *   exception to the order, an EVAL resent after NOSCRIPT, keeps its
 *   original deadline (a caller never waits longer than "timeout="), and
 *   while there is one the timer looks at the whole queue;
 *
 * - a reconnect timer with backoff, and a "down" flag: while a connection
 *   is down, commands go to the server's other connections, and when all
 *   of them are down, ngx_http_meshgate_redis_send() fails at once.  A
 *   connection is down from its first failure until Redis answers a
 *   caller's command on it: neither a TCP connect nor the handshake shows
 *   that commands work, and a server that accepts connections and then
 *   drops or garbles every command would otherwise be reconnected at the
 *   shortest backoff, with an outage and a recovery logged every time.
 *   Once reconnected and through the handshake, a connection that is down
 *   takes one command at a time to prove itself; the others still fail at
 *   once.  The backoff starts over only when one has succeeded.
 *
 * - a "stalled" flag: a command whose deadline passes shows that Redis
 *   does not answer (CLIENT PAUSE, a long script, a hung server), and
 *   the next commands would only wait for their deadlines too.  So the
 *   first timeout fails every command waiting on the connection at once,
 *   marks it down, and sends a PING behind them; the connection takes no
 *   command until the PING is answered, which shows that Redis has caught
 *   up with everything sent before.  A silent Redis thus costs one
 *   timeout per connection, not one per command.  A late reply to a
 *   command that timed out does not end the stall: only the PING does,
 *   so that a server that answers the wrong commands is not taken for
 *   one that works.  If the PING stays unanswered too, the connection is
 *   dropped and reconnected as when replies stop coming (STALE below).
 *
 * On reload or graceful quit the connections are deliberately not marked
 * idle (c->idle), which would have them closed at once: the requests the
 * worker is still finishing may need Redis.  The worker leaves when only
 * cancelable timers are left (the reconnect timer always is, the deadline
 * timer is while nobody waits), and exit_process closes the sockets.
 */


#include "ngx_http_meshgate_redis_internal.h"

#include "mg_resp.h"


/* reconnect backoff: first retry, doubling up to the cap */
#define NGX_HTTP_MESHGATE_REDIS_BACKOFF      50
#define NGX_HTTP_MESHGATE_REDIS_BACKOFF_MAX  1000

/* a connection that has not answered for this many timeouts is dropped */
#define NGX_HTTP_MESHGATE_REDIS_STALE        10


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


static ngx_int_t ngx_http_meshgate_redis_init_connection(ngx_cycle_t *cycle,
    ngx_http_meshgate_redis_main_conf_t *rmcf,
    ngx_http_meshgate_redis_server_t *server,
    ngx_http_meshgate_redis_conn_t *conn, size_t size);
static void ngx_http_meshgate_redis_connect(
    ngx_http_meshgate_redis_conn_t *conn);
static ngx_int_t ngx_http_meshgate_redis_handshake(
    ngx_http_meshgate_redis_conn_t *conn);
static ngx_int_t ngx_http_meshgate_redis_internal(
    ngx_http_meshgate_redis_conn_t *conn, ngx_uint_t kind, ngx_uint_t argc,
    mg_str_t *argv, ngx_http_meshgate_redis_script_t *script);
static ngx_int_t ngx_http_meshgate_redis_test_connect(ngx_connection_t *c);
static ngx_int_t ngx_http_meshgate_redis_connected(
    ngx_http_meshgate_redis_conn_t *conn);
static void ngx_http_meshgate_redis_ready(ngx_http_meshgate_redis_conn_t *conn);
static void ngx_http_meshgate_redis_healthy(
    ngx_http_meshgate_redis_conn_t *conn);
static void ngx_http_meshgate_redis_read_handler(ngx_event_t *rev);
static void ngx_http_meshgate_redis_write_handler(ngx_event_t *wev);
static void ngx_http_meshgate_redis_flush_handler(ngx_event_t *ev);
static void ngx_http_meshgate_redis_deadline_handler(ngx_event_t *ev);
static void ngx_http_meshgate_redis_stall(
    ngx_http_meshgate_redis_conn_t *conn);
static void ngx_http_meshgate_redis_reconnect_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_meshgate_redis_flush(
    ngx_http_meshgate_redis_conn_t *conn);
static ngx_int_t ngx_http_meshgate_redis_read(
    ngx_http_meshgate_redis_conn_t *conn, u_char *buf, size_t n);
static ngx_int_t ngx_http_meshgate_redis_process(
    ngx_http_meshgate_redis_conn_t *conn, u_char *reason, size_t len);
static ngx_int_t ngx_http_meshgate_redis_complete(
    ngx_http_meshgate_redis_conn_t *conn, ngx_http_meshgate_redis_cmd_t *cmd,
    redisReply *reply);
static ngx_int_t ngx_http_meshgate_redis_handshake_reply(
    ngx_http_meshgate_redis_conn_t *conn, ngx_http_meshgate_redis_cmd_t *cmd,
    redisReply *reply);
static ngx_int_t ngx_http_meshgate_redis_resend(
    ngx_http_meshgate_redis_conn_t *conn, ngx_http_meshgate_redis_cmd_t *cmd);
static void ngx_http_meshgate_redis_fail(ngx_http_meshgate_redis_conn_t *conn,
    const char *reason);
static void ngx_http_meshgate_redis_close(ngx_http_meshgate_redis_conn_t *conn);
static ngx_http_meshgate_redis_conn_t *ngx_http_meshgate_redis_pick(
    ngx_http_meshgate_redis_server_t *server, size_t size, ngx_log_t *log,
    ngx_int_t *rc);
static ngx_http_meshgate_redis_cmd_t *ngx_http_meshgate_redis_alloc(
    ngx_http_meshgate_redis_conn_t *conn);
static void ngx_http_meshgate_redis_bound(ngx_http_meshgate_redis_cmd_t *cmd,
    const mg_resp_limits_t *limits);
static void ngx_http_meshgate_redis_enqueue(
    ngx_http_meshgate_redis_conn_t *conn, ngx_http_meshgate_redis_cmd_t *cmd);
static void ngx_http_meshgate_redis_release(
    ngx_http_meshgate_redis_conn_t *conn);
static void ngx_http_meshgate_redis_arm(ngx_http_meshgate_redis_conn_t *conn,
    ngx_msec_t deadline);
static u_char *ngx_http_meshgate_redis_reserve(
    ngx_http_meshgate_redis_conn_t *conn, size_t len);
static void ngx_http_meshgate_redis_commit(
    ngx_http_meshgate_redis_conn_t *conn, u_char *p, size_t len);
static void ngx_http_meshgate_redis_copy(ngx_http_meshgate_redis_conn_t *conn,
    u_char *dst, size_t from, size_t len);
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
static void ngx_http_meshgate_redis_free_reply(
    ngx_http_meshgate_redis_conn_t *conn);
static u_char *ngx_http_meshgate_redis_log_error(ngx_log_t *log, u_char *buf,
    size_t len);


#define ngx_http_meshgate_redis_room(conn)                                    \
    ((conn)->size - ((conn)->head - (conn)->tail))

/*
 * The caller, or the handshake, still waits for the reply; a PING's
 * deadline means nothing: Redis takes its time or the connection goes
 * stale (ngx_http_meshgate_redis_deadline_handler())
 */
#define ngx_http_meshgate_redis_live(cmd)                                     \
    ((cmd)->handler != NULL                                                   \
     || ((cmd)->kind != NGX_HTTP_MESHGATE_REDIS_USER                          \
         && (cmd)->kind != NGX_HTTP_MESHGATE_REDIS_PROBE))

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

    ngx_http_meshgate_redis_commit(conn, start, size);

    c->end = conn->head;
    c->argc = argc;
    c->handler = handler;
    c->data = data;

    ngx_http_meshgate_redis_bound(c, limits);

    ngx_http_meshgate_redis_enqueue(conn, c);

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

    ngx_http_meshgate_redis_commit(conn, start, size);

    c->end = conn->head;
    c->argc = argc;
    c->script = script;
    c->handler = handler;
    c->data = data;

    ngx_http_meshgate_redis_bound(c, limits);

    ngx_http_meshgate_redis_enqueue(conn, c);

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
ngx_http_meshgate_redis_init_connections(ngx_cycle_t *cycle,
    ngx_http_meshgate_redis_main_conf_t *rmcf)
{
    size_t                              size, need, max, script;
    ngx_uint_t                          i, j;
    ngx_http_meshgate_redis_script_t  **scripts;
    ngx_http_meshgate_redis_server_t  **servers, *server;

    servers = rmcf->servers.elts;
    max = 0;

    for (i = 0; i < rmcf->servers.nelts; i++) {
        server = servers[i];

        if (!server->referenced) {
            continue;
        }

        /*
         * Room for the handshake (AUTH, SELECT, SCRIPT LOAD each script)
         * and for an EVAL of the largest script, on top of three quarters
         * of the default for the commands.
         */

        need = NGX_HTTP_MESHGATE_REDIS_BUFFER / 4 * 3
               + mg_resp_bulk_size(server->password.len) + 64;

        script = 0;
        scripts = server->scripts.elts;

        for (j = 0; j < server->scripts.nelts; j++) {
            need += mg_resp_bulk_size(scripts[j]->source.len) + 64;
            script = ngx_max(script, scripts[j]->source.len);
        }

        need += mg_resp_bulk_size(script) + 64;

        /*
         * A power of two, so that ring positions, which only grow, map to
         * the same bytes even when they wrap around (on 32-bit systems).
         */

        for (size = NGX_HTTP_MESHGATE_REDIS_BUFFER; size < need; size <<= 1) {
            /* void */
        }

        max = ngx_max(max, size);

        server->conns = ngx_pcalloc(cycle->pool,
                                    server->nconnections
                                    * sizeof(ngx_http_meshgate_redis_conn_t));
        if (server->conns == NULL) {
            return NGX_ERROR;
        }

        for (j = 0; j < server->nconnections; j++) {
            if (ngx_http_meshgate_redis_init_connection(cycle, rmcf, server,
                                                        &server->conns[j],
                                                        size)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (max == 0) {
        return NGX_OK;
    }

    rmcf->scratch = ngx_palloc(cycle->pool, max);
    if (rmcf->scratch == NULL) {
        return NGX_ERROR;
    }

    rmcf->recv_buffer = ngx_palloc(cycle->pool,
                                   NGX_HTTP_MESHGATE_REDIS_RECV_BUFFER);
    if (rmcf->recv_buffer == NULL) {
        return NGX_ERROR;
    }

    /* eagerly, so that the first requests find the connections ready */

    for (i = 0; i < rmcf->servers.nelts; i++) {
        server = servers[i];

        for (j = 0; server->conns && j < server->nconnections; j++) {
            ngx_http_meshgate_redis_connect(&server->conns[j]);
        }
    }

    return NGX_OK;
}


void
ngx_http_meshgate_redis_close_connections(ngx_cycle_t *cycle,
    ngx_http_meshgate_redis_main_conf_t *rmcf)
{
    ngx_uint_t                          i, j;
    ngx_http_meshgate_redis_conn_t     *conn;
    ngx_http_meshgate_redis_server_t  **servers;

    /*
     * The worker is exiting: requests are not finalized any more, so no
     * handler is called; closing the sockets here keeps nginx from
     * reporting them as left open.
     */

    servers = rmcf->servers.elts;

    for (i = 0; i < rmcf->servers.nelts; i++) {

        for (j = 0; servers[i]->conns && j < servers[i]->nconnections; j++) {
            conn = &servers[i]->conns[j];

            if (conn->reconnect.timer_set) {
                ngx_del_timer(&conn->reconnect);
            }

            ngx_http_meshgate_redis_close(conn);
        }
    }
}


static ngx_int_t
ngx_http_meshgate_redis_init_connection(ngx_cycle_t *cycle,
    ngx_http_meshgate_redis_main_conf_t *rmcf,
    ngx_http_meshgate_redis_server_t *server,
    ngx_http_meshgate_redis_conn_t *conn, size_t size)
{
    ngx_uint_t  i;

    conn->server = server;
    conn->rmcf = rmcf;

    conn->cmds = ngx_palloc(cycle->pool,
                            NGX_HTTP_MESHGATE_REDIS_SLOTS
                            * sizeof(ngx_http_meshgate_redis_cmd_t));
    if (conn->cmds == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_init(&conn->free);
    ngx_queue_init(&conn->pending);

    for (i = 0; i < NGX_HTTP_MESHGATE_REDIS_SLOTS; i++) {
        ngx_queue_insert_tail(&conn->free, &conn->cmds[i].queue);
    }

    conn->buffer = ngx_palloc(cycle->pool, size);
    if (conn->buffer == NULL) {
        return NGX_ERROR;
    }

    conn->size = size;

    conn->arena = ngx_palloc(cycle->pool, NGX_HTTP_MESHGATE_REDIS_ARENA);
    if (conn->arena == NULL) {
        return NGX_ERROR;
    }

    conn->log = *cycle->log;
    conn->log.handler = ngx_http_meshgate_redis_log_error;
    conn->log.data = conn;
    conn->log.action = NULL;
    conn->log_level = conn->log.log_level;

    conn->deadline.handler = ngx_http_meshgate_redis_deadline_handler;
    conn->deadline.data = conn;
    conn->deadline.log = &conn->log;

    conn->flush.handler = ngx_http_meshgate_redis_flush_handler;
    conn->flush.data = conn;
    conn->flush.log = &conn->log;

    /* a worker that is shutting down does not wait to reconnect */

    conn->reconnect.handler = ngx_http_meshgate_redis_reconnect_handler;
    conn->reconnect.data = conn;
    conn->reconnect.log = &conn->log;
    conn->reconnect.cancelable = 1;

    conn->backoff = NGX_HTTP_MESHGATE_REDIS_BACKOFF;

    return NGX_OK;
}


static void
ngx_http_meshgate_redis_connect(ngx_http_meshgate_redis_conn_t *conn)
{
    ngx_int_t                          rc;
    ngx_connection_t                  *c;
    ngx_http_meshgate_redis_server_t  *server;

    server = conn->server;

    ngx_memzero(&conn->peer, sizeof(ngx_peer_connection_t));

    conn->peer.sockaddr = server->addr->sockaddr;
    conn->peer.socklen = server->addr->socklen;
    conn->peer.name = &server->addr->name;
    conn->peer.get = ngx_event_get_peer;
    conn->peer.log = &conn->log;
    conn->peer.log_error = NGX_ERROR_ERR;
    conn->peer.so_keepalive = 1;

    conn->log.action = "connecting to redis";
    conn->log.connection = 0;

    rc = ngx_event_connect_peer(&conn->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        conn->peer.connection = NULL;
        ngx_http_meshgate_redis_fail(conn, "connect() failed");
        return;
    }

    c = conn->peer.connection;

    c->data = conn;
    c->read->handler = ngx_http_meshgate_redis_read_handler;
    c->write->handler = ngx_http_meshgate_redis_write_handler;

    conn->log.connection = c->number;
    conn->state = NGX_HTTP_MESHGATE_REDIS_CONNECTING;

    conn->reader = redisReaderCreateWithFunctions(
                                     &ngx_http_meshgate_redis_reply_functions);
    if (conn->reader == NULL) {
        ngx_http_meshgate_redis_fail(conn, "out of memory");
        return;
    }

    conn->reader->privdata = conn;

    if (ngx_http_meshgate_redis_handshake(conn) != NGX_OK) {
        ngx_http_meshgate_redis_fail(conn, "no room for the handshake");
        return;
    }

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->write, server->connect_timeout);
        return;
    }

    /* unix sockets connect at once */

    if (ngx_http_meshgate_redis_connected(conn) != NGX_OK) {
        ngx_http_meshgate_redis_fail(conn, "send() failed");
    }
}


static ngx_int_t
ngx_http_meshgate_redis_handshake(ngx_http_meshgate_redis_conn_t *conn)
{
    u_char                             *p, db[NGX_INT_T_LEN];
    mg_str_t                            argv[3];
    ngx_uint_t                          i;
    ngx_http_meshgate_redis_script_t  **scripts;
    ngx_http_meshgate_redis_server_t   *server;

    /*
     * The handshake is queued before the connection can take any command
     * of a caller, so it precedes them on the wire whatever happens.
     */

    server = conn->server;

    if (server->password.len) {
        argv[0].data = (const unsigned char *) "AUTH";
        argv[0].len = 4;
        argv[1].data = server->password.data;
        argv[1].len = server->password.len;

        if (ngx_http_meshgate_redis_internal(conn,
                                             NGX_HTTP_MESHGATE_REDIS_AUTH,
                                             2, argv, NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (server->db) {
        p = ngx_sprintf(db, "%ui", server->db);

        argv[0].data = (const unsigned char *) "SELECT";
        argv[0].len = 6;
        argv[1].data = db;
        argv[1].len = p - db;

        if (ngx_http_meshgate_redis_internal(conn,
                                             NGX_HTTP_MESHGATE_REDIS_SELECT,
                                             2, argv, NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    scripts = server->scripts.elts;

    for (i = 0; i < server->scripts.nelts; i++) {
        argv[0].data = (const unsigned char *) "SCRIPT";
        argv[0].len = 6;
        argv[1].data = (const unsigned char *) "LOAD";
        argv[1].len = 4;
        argv[2].data = scripts[i]->source.data;
        argv[2].len = scripts[i]->source.len;

        if (ngx_http_meshgate_redis_internal(conn,
                                             NGX_HTTP_MESHGATE_REDIS_LOAD,
                                             3, argv, scripts[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
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


static ngx_int_t
ngx_http_meshgate_redis_test_connect(ngx_connection_t *c)
{
    ngx_err_t  err;

    if (ngx_http_meshgate_test_connect(c, &err) != NGX_OK) {
        (void) ngx_connection_error(c, err, "connect() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_meshgate_redis_connected(ngx_http_meshgate_redis_conn_t *conn)
{
    ngx_connection_t  *c;

    c = conn->peer.connection;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    conn->log.action = "talking to redis";

    /* pipelined commands are small writes that must not wait for ACKs */

    if (ngx_tcp_nodelay(c) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, &conn->log, 0,
                   "redis connected, handshake: %ui", conn->nhandshake);

    if (conn->nhandshake) {
        conn->state = NGX_HTTP_MESHGATE_REDIS_HANDSHAKE;

    } else {
        ngx_http_meshgate_redis_ready(conn);
    }

    return ngx_http_meshgate_redis_flush(conn);
}


static void
ngx_http_meshgate_redis_ready(ngx_http_meshgate_redis_conn_t *conn)
{
    /*
     * The handshake is done, which says little about the commands that
     * follow: a connection that is down stays down until one of them is
     * answered (ngx_http_meshgate_redis_healthy()).
     */

    conn->state = NGX_HTTP_MESHGATE_REDIS_READY;
}


static void
ngx_http_meshgate_redis_healthy(ngx_http_meshgate_redis_conn_t *conn)
{
    ngx_http_meshgate_redis_server_t  *server;

    /* Redis answered a caller's command: the failure episode is over */

    server = conn->server;

    conn->down = 0;
    conn->stalled = 0;
    conn->backoff = NGX_HTTP_MESHGATE_REDIS_BACKOFF;
    conn->log.log_level = conn->log_level;

    if (--server->ndown == 0) {
        ngx_log_error(NGX_LOG_NOTICE, &conn->log, 0, "redis is back");
    }
}


static void
ngx_http_meshgate_redis_read_handler(ngx_event_t *rev)
{
    u_char                          *buf;
    ssize_t                          n;
    ngx_connection_t                *c;
    ngx_http_meshgate_redis_conn_t  *conn;

    c = rev->data;
    conn = c->data;

    if (c->close) {

        /* worker_shutdown_timeout: the requests are being closed too */

        ngx_http_meshgate_redis_fail(conn, "worker is shutting down");
        return;
    }

    if (conn->state == NGX_HTTP_MESHGATE_REDIS_CONNECTING) {
        if (ngx_http_meshgate_redis_test_connect(c) != NGX_OK
            || ngx_http_meshgate_redis_connected(conn) != NGX_OK)
        {
            ngx_http_meshgate_redis_fail(conn, "connect() failed");
            return;
        }
    }

    buf = conn->rmcf->recv_buffer;

    for ( ;; ) {
        n = c->recv(c, buf, NGX_HTTP_MESHGATE_REDIS_RECV_BUFFER);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0) {
            ngx_http_meshgate_redis_fail(conn, "connection closed by redis");
            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_meshgate_redis_fail(conn, "recv() failed");
            return;
        }

        if (ngx_http_meshgate_redis_read(conn, buf, n) != NGX_OK) {
            return;
        }

        if (!rev->ready) {
            break;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_meshgate_redis_fail(conn, "event error");
    }
}


static void
ngx_http_meshgate_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t                *c;
    ngx_http_meshgate_redis_conn_t  *conn;

    c = wev->data;
    conn = c->data;

    if (conn->state == NGX_HTTP_MESHGATE_REDIS_CONNECTING) {

        if (wev->timedout) {
            ngx_log_error(NGX_LOG_ERR, &conn->log, NGX_ETIMEDOUT,
                          "connect() timed out");
            ngx_http_meshgate_redis_fail(conn, "connect() timed out");
            return;
        }

        if (ngx_http_meshgate_redis_test_connect(c) != NGX_OK) {
            ngx_http_meshgate_redis_fail(conn, "connect() failed");
            return;
        }

        if (ngx_http_meshgate_redis_connected(conn) != NGX_OK) {
            ngx_http_meshgate_redis_fail(conn, "send() failed");
        }

        return;
    }

    if (ngx_http_meshgate_redis_flush(conn) != NGX_OK) {
        ngx_http_meshgate_redis_fail(conn, "send() failed");
    }
}


static void
ngx_http_meshgate_redis_flush_handler(ngx_event_t *ev)
{
    ngx_http_meshgate_redis_conn_t  *conn;

    conn = ev->data;

    if (conn->state < NGX_HTTP_MESHGATE_REDIS_HANDSHAKE) {
        return;
    }

    if (ngx_http_meshgate_redis_flush(conn) != NGX_OK) {
        ngx_http_meshgate_redis_fail(conn, "send() failed");
    }
}


static void
ngx_http_meshgate_redis_deadline_handler(ngx_event_t *ev)
{
    ngx_msec_t                       now, next, stale;
    ngx_uint_t                       live, expired;
    ngx_queue_t                     *q;
    ngx_msec_int_t                   left;
    ngx_http_meshgate_redis_cmd_t   *cmd;
    ngx_http_meshgate_redis_conn_t  *conn;

    conn = ev->data;

    now = ngx_current_msec;
    expired = 0;

    /*
     * The rest of the queue expires later, unless there is a resent EVAL
     * or the handshake, which has its own, longer deadline.
     */

    for (q = ngx_queue_head(&conn->pending);
         q != ngx_queue_sentinel(&conn->pending);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_http_meshgate_redis_cmd_t, queue);

        if (!ngx_http_meshgate_redis_live(cmd)) {
            continue;
        }

        if ((ngx_msec_int_t) (cmd->deadline - now) > 0) {

            if (conn->nretries == 0 && conn->nhandshake == 0) {
                break;
            }

            continue;
        }

        if (cmd->kind != NGX_HTTP_MESHGATE_REDIS_USER) {
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "redis did not answer the handshake in time");
            ngx_http_meshgate_redis_fail(conn, "handshake timed out");
            return;
        }

        expired = 1;
    }

    if (expired) {
        ngx_http_meshgate_redis_stall(conn);

        if (conn->state == NGX_HTTP_MESHGATE_REDIS_CLOSED) {
            return;
        }
    }

    /* what is left to wait for: the handshake, if anything */

    next = NGX_TIMER_INFINITE;
    live = 0;

    for (q = ngx_queue_head(&conn->pending);
         q != ngx_queue_sentinel(&conn->pending);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_http_meshgate_redis_cmd_t, queue);

        if (!ngx_http_meshgate_redis_live(cmd)) {
            continue;
        }

        left = (ngx_msec_int_t) (cmd->deadline - now);

        live = 1;
        next = ngx_min(next, (ngx_msec_t) ngx_max(left, 1));

        if (conn->nretries == 0 && conn->nhandshake == 0) {
            break;
        }
    }

    if (ngx_queue_empty(&conn->pending)) {
        return;
    }

    /*
     * Replies more than STALE timeouts late, or a queue that turned a
     * caller away while its oldest command has already given up, mean
     * Redis is not keeping up at all: failing fast beats a queue of
     * commands that nobody waits for.
     */

    cmd = ngx_queue_data(ngx_queue_head(&conn->pending),
                         ngx_http_meshgate_redis_cmd_t, queue);

    if (!ngx_http_meshgate_redis_live(cmd)) {
        stale = cmd->deadline
                + (NGX_HTTP_MESHGATE_REDIS_STALE - 1) * conn->server->timeout;

        left = (ngx_msec_int_t) (stale - now);

        if (left <= 0 || conn->full) {
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "redis has not answered for %M ms",
                          now - cmd->deadline + conn->server->timeout);
            ngx_http_meshgate_redis_fail(conn, "no replies");
            return;
        }

        next = ngx_min(next, (ngx_msec_t) left);
    }

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    /* with nobody waiting, a shutting down worker need not wait either */

    ev->cancelable = !live;

    ngx_add_timer(ev, next);
}


/*
 * A caller's command timed out: Redis does not answer this connection,
 * and the commands behind it would wait for their deadlines as well.
 * They fail now, the connection takes no more until Redis answers a PING
 * sent behind them, and one line says so.
 */

static void
ngx_http_meshgate_redis_stall(ngx_http_meshgate_redis_conn_t *conn)
{
    char                                *action;
    void                                *data;
    mg_str_t                             ping;
    ngx_queue_t                         *q;
    ngx_http_meshgate_redis_cmd_t       *cmd;
    ngx_http_meshgate_redis_server_t    *server;
    ngx_http_meshgate_redis_handler_pt   handler;

    server = conn->server;

    conn->stalled = 1;

    if (!conn->down) {
        conn->down = 1;

        if (server->ndown++ == 0) {

            /* the reason says what was going on */

            action = conn->log.action;
            conn->log.action = NULL;

            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "redis unavailable (no reply in %M ms), failing "
                          "commands at once until it answers a PING",
                          server->timeout);

            conn->log.action = action;
        }

        /* as in ngx_http_meshgate_redis_fail(): one error per episode */

        if (conn->log.log_level > NGX_LOG_ALERT) {
            conn->log.log_level = NGX_LOG_ALERT;
        }
    }

    ping.data = (const unsigned char *) "PING";
    ping.len = 4;

    if (ngx_http_meshgate_redis_internal(conn, NGX_HTTP_MESHGATE_REDIS_PROBE,
                                         1, &ping, NULL)
        != NGX_OK)
    {
        /* no room to ask: starting over is the other way to find out */

        ngx_http_meshgate_redis_fail(conn, "timed out");
        return;
    }

    /*
     * The replies, when they come, find no handler and are dropped.  A
     * handler may send commands: they go to other connections, or fail.
     */

    for (q = ngx_queue_head(&conn->pending);
         q != ngx_queue_sentinel(&conn->pending);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_http_meshgate_redis_cmd_t, queue);

        if (cmd->kind != NGX_HTTP_MESHGATE_REDIS_USER
            || cmd->handler == NULL)
        {
            continue;
        }

        handler = cmd->handler;
        data = cmd->data;

        cmd->handler = NULL;
        cmd->data = NULL;

        handler(data, NGX_ABORT, NULL);
    }
}


static void
ngx_http_meshgate_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_meshgate_redis_conn_t  *conn;

    conn = ev->data;

    if (ngx_exiting || ngx_terminate) {
        return;
    }

    ngx_http_meshgate_redis_connect(conn);
}


static ngx_int_t
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


/*
 * Received bytes: the framing reader cuts them into replies, and checks
 * each against the bounds of the command it answers, before hiredis's
 * reader sees any of its bytes; hiredis then builds one reply at a time.
 * Returns NGX_ERROR when the connection has failed.
 */

static ngx_int_t
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


static ngx_int_t
ngx_http_meshgate_redis_handshake_reply(ngx_http_meshgate_redis_conn_t *conn,
    ngx_http_meshgate_redis_cmd_t *cmd, redisReply *reply)
{
    u_char                            *sp;
    ngx_http_meshgate_redis_script_t  *script;

    conn->nhandshake--;

    switch (cmd->kind) {

    case NGX_HTTP_MESHGATE_REDIS_AUTH:
        if (reply->type == REDIS_REPLY_ERROR) {

            /*
             * Only the error code: the text may repeat the password (as
             * "ERR unknown command 'AUTH', with args beginning with:
             * '<password>'" does), in full or cut short.
             */

            sp = ngx_strlchr((u_char *) reply->str,
                             (u_char *) reply->str + reply->len, ' ');

            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "redis AUTH failed: %*s%s",
                          sp ? (size_t) (sp - (u_char *) reply->str)
                             : reply->len,
                          reply->str, sp ? " ..." : "");
            return NGX_DECLINED;
        }

        break;

    case NGX_HTTP_MESHGATE_REDIS_SELECT:
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "redis SELECT %ui failed: %*s",
                          conn->server->db, reply->len, reply->str);
            return NGX_DECLINED;
        }

        break;

    default: /* NGX_HTTP_MESHGATE_REDIS_LOAD */

        /*
         * A script Redis refuses is not the connection's fault: EVALSHA
         * falls back to EVAL, whose error then reaches the caller.
         */

        script = cmd->script;

        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "redis SCRIPT LOAD %*s failed: %*s",
                          (size_t) NGX_HTTP_MESHGATE_REDIS_SHA1_LEN,
                          script->sha1, reply->len, reply->str);

        } else if (reply->type != REDIS_REPLY_STRING
                   || reply->len != NGX_HTTP_MESHGATE_REDIS_SHA1_LEN
                   || ngx_strncmp(reply->str, script->sha1,
                                  NGX_HTTP_MESHGATE_REDIS_SHA1_LEN)
                      != 0)
        {
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "redis SCRIPT LOAD %*s: unexpected reply",
                          (size_t) NGX_HTTP_MESHGATE_REDIS_SHA1_LEN,
                          script->sha1);
        }

        break;
    }

    if (conn->nhandshake == 0
        && conn->state == NGX_HTTP_MESHGATE_REDIS_HANDSHAKE)
    {
        ngx_http_meshgate_redis_ready(conn);
    }

    return NGX_OK;
}


static ngx_int_t
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


static void
ngx_http_meshgate_redis_fail(ngx_http_meshgate_redis_conn_t *conn,
    const char *reason)
{
    void                                *data;
    ngx_queue_t                          failed, *q;
    ngx_http_meshgate_redis_cmd_t       *cmd;
    ngx_http_meshgate_redis_server_t    *server;
    ngx_http_meshgate_redis_handler_pt   handler;

    server = conn->server;

    /* the reason says what was going on */

    conn->log.action = NULL;

    if (!conn->down) {
        conn->down = 1;

        if (server->ndown++ == 0) {
            if (ngx_exiting || ngx_terminate) {
                ngx_log_error(NGX_LOG_INFO, &conn->log, 0,
                              "redis connection closed (%s)", reason);

            } else {
                ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                              "redis unavailable (%s), reconnecting in the "
                              "background", reason);
            }
        }

        /*
         * One error per episode: until the connection works again, the
         * messages of every failed attempt are not worth a line each.
         */

        if (conn->log.log_level > NGX_LOG_ALERT) {
            conn->log.log_level = NGX_LOG_ALERT;
        }

    } else {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, &conn->log, 0,
                       "redis still unavailable: %s", reason);
    }

    ngx_http_meshgate_redis_close(conn);

    ngx_queue_init(&failed);

    if (!ngx_queue_empty(&conn->pending)) {
        ngx_queue_add(&failed, &conn->pending);
        ngx_queue_init(&conn->pending);
    }

    conn->npending = 0;
    conn->nretries = 0;
    conn->nhandshake = 0;
    conn->full = 0;
    conn->tail = 0;
    conn->sent = 0;
    conn->head = 0;

    if (!ngx_exiting && !ngx_terminate) {
        ngx_add_timer(&conn->reconnect, conn->backoff);

        conn->backoff = ngx_min(conn->backoff * 2,
                                NGX_HTTP_MESHGATE_REDIS_BACKOFF_MAX);
    }

    /*
     * The connection is down and empty before any handler runs, so that
     * what a handler sends goes elsewhere or fails fast.
     */

    while (!ngx_queue_empty(&failed)) {
        q = ngx_queue_head(&failed);
        ngx_queue_remove(q);

        cmd = ngx_queue_data(q, ngx_http_meshgate_redis_cmd_t, queue);

        handler = cmd->handler;
        data = cmd->data;

        cmd->handler = NULL;
        cmd->data = NULL;
        cmd->retry = 0;

        if (handler) {
            handler(data, NGX_ERROR, NULL);
        }

        ngx_queue_insert_tail(&conn->free, q);
    }
}


static void
ngx_http_meshgate_redis_close(ngx_http_meshgate_redis_conn_t *conn)
{
    if (conn->flush.posted) {
        ngx_delete_posted_event(&conn->flush);
    }

    if (conn->deadline.timer_set) {
        ngx_del_timer(&conn->deadline);
    }

    if (conn->peer.connection) {
        ngx_close_connection(conn->peer.connection);
        conn->peer.connection = NULL;
    }

    if (conn->reader) {
        redisReaderFree(conn->reader);
        conn->reader = NULL;
    }

    /* a reply read in part */

    ngx_http_meshgate_redis_free_reply(conn);

    conn->reading = 0;
    conn->stalled = 0;
    conn->state = NGX_HTTP_MESHGATE_REDIS_CLOSED;
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


static void
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


static void
ngx_http_meshgate_redis_arm(ngx_http_meshgate_redis_conn_t *conn,
    ngx_msec_t deadline)
{
    ngx_event_t     *ev;
    ngx_msec_int_t   left;

    ev = &conn->deadline;

    /* somebody waits now: a shutting down worker waits too */

    ev->cancelable = 0;

    if (ev->timer_set) {
        if ((ngx_msec_int_t) (ev->timer.key - deadline) <= 0) {
            return;
        }

        /*
         * Deleted rather than just added again: ngx_add_timer() ignores
         * changes under NGX_TIMER_LAZY_DELAY, far more than a deadline can
         * afford.
         */

        ngx_del_timer(ev);
    }

    left = (ngx_msec_int_t) (deadline - ngx_current_msec);

    ngx_add_timer(ev, left > 0 ? (ngx_msec_t) left : 0);
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


static void
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


static u_char *
ngx_http_meshgate_redis_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                          *p;
    ngx_http_meshgate_redis_conn_t  *conn;

    conn = log->data;
    p = buf;

    if (log->action) {
        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    return ngx_snprintf(buf, len, ", redis server: \"%V\" (%V)",
                        &conn->server->name, &conn->server->address);
}
