
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the deadlines ("timeout=") of the shared Redis client's
 * commands.
 *
 * Each connection has one timer for them.  Commands join the queue in the
 * order of their deadlines, so the oldest pending command always expires
 * first and one timer is enough; it is moved lazily, when it fires,
 * rather than once per reply.  An expired command stays in the
 * queue, handler gone, until its reply comes and is dropped.  The one
 * exception to the order, an EVAL resent after NOSCRIPT, keeps its
 * original deadline (a caller never waits longer than "timeout="), and
 * while there is one the timer looks at the whole queue.
 */


#include "ngx_http_meshgate_redis_internal.h"


/* a connection that has not answered for this many timeouts is dropped */
#define NGX_HTTP_MESHGATE_REDIS_STALE        10


void
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


void
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
