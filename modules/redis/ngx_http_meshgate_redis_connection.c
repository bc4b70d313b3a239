
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the per-worker connections of the shared Redis client:
 * connecting, the handshake, the socket's events, failing and
 * reconnecting, and stalls.  The commands are queued and written by
 * ngx_http_meshgate_redis_ring.c, their deadlines kept by
 * ngx_http_meshgate_redis_timer.c, and their replies read by
 * ngx_http_meshgate_redis_reply.c.
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
 * Per connection, besides its commands and their replies:
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
 *   dropped and reconnected as when replies stop coming
 *   (NGX_HTTP_MESHGATE_REDIS_STALE, ngx_http_meshgate_redis_timer.c).
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


static ngx_int_t ngx_http_meshgate_redis_init_connection(ngx_cycle_t *cycle,
    ngx_http_meshgate_redis_main_conf_t *rmcf,
    ngx_http_meshgate_redis_server_t *server,
    ngx_http_meshgate_redis_conn_t *conn, size_t size);
static void ngx_http_meshgate_redis_connect(
    ngx_http_meshgate_redis_conn_t *conn);
static ngx_int_t ngx_http_meshgate_redis_handshake(
    ngx_http_meshgate_redis_conn_t *conn);
static ngx_int_t ngx_http_meshgate_redis_test_connect(ngx_connection_t *c);
static ngx_int_t ngx_http_meshgate_redis_connected(
    ngx_http_meshgate_redis_conn_t *conn);
static void ngx_http_meshgate_redis_ready(ngx_http_meshgate_redis_conn_t *conn);
static void ngx_http_meshgate_redis_read_handler(ngx_event_t *rev);
static void ngx_http_meshgate_redis_write_handler(ngx_event_t *wev);
static void ngx_http_meshgate_redis_flush_handler(ngx_event_t *ev);
static void ngx_http_meshgate_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_meshgate_redis_close(ngx_http_meshgate_redis_conn_t *conn);
static u_char *ngx_http_meshgate_redis_log_error(ngx_log_t *log, u_char *buf,
    size_t len);


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

    conn->reader = ngx_http_meshgate_redis_create_reader(conn);
    if (conn->reader == NULL) {
        ngx_http_meshgate_redis_fail(conn, "out of memory");
        return;
    }

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


void
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


/*
 * A caller's command timed out: Redis does not answer this connection,
 * and the commands behind it would wait for their deadlines as well.
 * They fail now, the connection takes no more until Redis answers a PING
 * sent behind them, and one line says so.
 */

void
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


ngx_int_t
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


void
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
