
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the health check probes, on the workers' event loops.
 *
 * Each worker has a timer, the tick, that leases the probes that are due
 * (ngx_http_upstream_hc_take()) and sleeps until the next one is, a
 * second at most.  A probe is an nginx peer connection
 * (ngx_event_connect_peer()) with its own memory pool: connect, send the
 * check's request, read the response head into a buffer of the location's
 * proxy_buffer_size (a head that does not fit fails, as it would fail the
 * proxy), then, only when the check's match tests the body, up to 256 KB
 * of the body.  The response is read with mg_http.c, the verdict given by
 * ngx_http_upstream_hc_test().
 *
 * The timeouts are the location's: proxy_connect_timeout to connect,
 * proxy_send_timeout to send the request, proxy_read_timeout for the
 * whole response.
 *
 * Probe connections are marked idle: when the worker is told to leave
 * (reload, graceful quit) nginx closes them at once through their read
 * handler, and the lease goes back to the zone with the probe due at once,
 * for the new workers.  The tick is a cancelable timer and does nothing
 * once the worker leaves; exit_process closes whatever is left.
 */


#include "ngx_http_upstream_hc_module.h"


typedef enum {
    NGX_HTTP_UPSTREAM_HC_CONNECTING = 0,
    NGX_HTTP_UPSTREAM_HC_SENDING,
    NGX_HTTP_UPSTREAM_HC_READING_HEAD,
    NGX_HTTP_UPSTREAM_HC_READING_BODY
} ngx_http_upstream_hc_state_e;


typedef struct {
    ngx_queue_t                         queue;

    ngx_http_upstream_hc_main_conf_t   *hmcf;
    ngx_http_upstream_hc_check_t       *check;
    ngx_http_upstream_hc_peer_t        *peer;

    ngx_pool_t                         *pool;
    ngx_peer_connection_t               pc;
    ngx_log_t                           log;
    ngx_sockaddr_t                      sockaddr;
    ngx_str_t                           name;

    ngx_uint_t                          state;
    size_t                              sent;

    /* the head, which the fields of resp point into */
    u_char                             *buf;
    size_t                              len;

    /* a chunked body as it comes, before it is decoded */
    u_char                             *raw;

    mg_http_response_t                  resp;
    mg_http_chunked_t                   chunked;

    u_char                             *body;
    size_t                              body_len;
    size_t                              body_size;

    u_char                              reason[256];
} ngx_http_upstream_hc_probe_t;


static void ngx_http_upstream_hc_tick(ngx_event_t *ev);
static void ngx_http_upstream_hc_start(ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_http_upstream_hc_check_t *check, ngx_http_upstream_hc_peer_t *peer);
static void ngx_http_upstream_hc_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_upstream_hc_send(
    ngx_http_upstream_hc_probe_t *probe);
static ngx_int_t ngx_http_upstream_hc_read(
    ngx_http_upstream_hc_probe_t *probe);
static ngx_int_t ngx_http_upstream_hc_read_head(
    ngx_http_upstream_hc_probe_t *probe);
static ngx_int_t ngx_http_upstream_hc_start_body(
    ngx_http_upstream_hc_probe_t *probe);
static ngx_int_t ngx_http_upstream_hc_read_body(
    ngx_http_upstream_hc_probe_t *probe);
static ngx_int_t ngx_http_upstream_hc_decode(
    ngx_http_upstream_hc_probe_t *probe, u_char *p, u_char *last);
static void ngx_http_upstream_hc_verdict(ngx_http_upstream_hc_probe_t *probe);
static void ngx_http_upstream_hc_fail(ngx_http_upstream_hc_probe_t *probe,
    const char *fmt, ...);
static void ngx_http_upstream_hc_finish(ngx_http_upstream_hc_probe_t *probe,
    ngx_uint_t result);
static u_char *ngx_http_upstream_hc_log_error(ngx_log_t *log, u_char *buf,
    size_t len);


#define ngx_http_upstream_hc_leaving()                                        \
    (ngx_exiting || ngx_quit || ngx_terminate)


ngx_int_t
ngx_http_upstream_hc_init_probes(ngx_cycle_t *cycle,
    ngx_http_upstream_hc_main_conf_t *hmcf)
{
    ngx_queue_init(&hmcf->probes);

    hmcf->tick.handler = ngx_http_upstream_hc_tick;
    hmcf->tick.data = hmcf;
    hmcf->tick.log = cycle->log;
    hmcf->tick.cancelable = 1;

    ngx_add_timer(&hmcf->tick, 1);

    return NGX_OK;
}


void
ngx_http_upstream_hc_close_probes(ngx_http_upstream_hc_main_conf_t *hmcf)
{
    ngx_queue_t                   *q;
    ngx_http_upstream_hc_probe_t  *probe;

    if (hmcf->probes.next == NULL) {

        /* not a worker */

        return;
    }

    while (!ngx_queue_empty(&hmcf->probes)) {
        q = ngx_queue_head(&hmcf->probes);
        probe = ngx_queue_data(q, ngx_http_upstream_hc_probe_t, queue);

        ngx_http_upstream_hc_finish(probe, NGX_HTTP_UPSTREAM_HC_ABORT);
    }
}


static void
ngx_http_upstream_hc_tick(ngx_event_t *ev)
{
    ngx_uint_t                         i, n;
    ngx_msec_t                         wake;
    ngx_http_upstream_hc_main_conf_t  *hmcf;

    hmcf = ev->data;

    if (ngx_http_upstream_hc_leaving()) {
        return;
    }

    n = ngx_http_upstream_hc_take(hmcf, &wake);

    for (i = 0; i < n; i++) {
        ngx_http_upstream_hc_start(hmcf, hmcf->due_checks[i],
                                   hmcf->due_peers[i]);
    }

    /* a probe that failed at once may have set an earlier time already */

    if (ev->timer_set) {
        if ((ngx_msec_int_t) (ev->timer.key - ngx_current_msec)
            <= (ngx_msec_int_t) wake)
        {
            return;
        }

        ngx_del_timer(ev);
    }

    ngx_add_timer(ev, wake);
}


static void
ngx_http_upstream_hc_start(ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_http_upstream_hc_check_t *check, ngx_http_upstream_hc_peer_t *peer)
{
    u_char                        *p;
    ngx_int_t                      rc;
    ngx_pool_t                    *pool;
    ngx_connection_t              *c;
    ngx_http_upstream_hc_probe_t  *probe;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        ngx_http_upstream_hc_done(hmcf, check, peer,
                                  NGX_HTTP_UPSTREAM_HC_RETRY, NULL);
        return;
    }

    probe = ngx_pcalloc(pool, sizeof(ngx_http_upstream_hc_probe_t));
    if (probe == NULL) {
        ngx_destroy_pool(pool);
        ngx_http_upstream_hc_done(hmcf, check, peer,
                                  NGX_HTTP_UPSTREAM_HC_RETRY, NULL);
        return;
    }

    probe->pool = pool;
    probe->hmcf = hmcf;
    probe->check = check;
    probe->peer = peer;

    ngx_queue_insert_tail(&hmcf->probes, &probe->queue);

    probe->log = *ngx_cycle->log;
    probe->log.handler = ngx_http_upstream_hc_log_error;
    probe->log.data = probe;
    probe->log.action = "connecting";

    /* the peer's address, in the upstream's zone, never changes */

    ngx_memcpy(&probe->sockaddr, peer->peer->sockaddr, peer->peer->socklen);

    probe->name = peer->name;

    if (check->port) {
        ngx_inet_set_port(&probe->sockaddr.sockaddr, check->port);

        p = ngx_pnalloc(pool, NGX_SOCKADDR_STRLEN);
        if (p == NULL) {
            ngx_http_upstream_hc_finish(probe, NGX_HTTP_UPSTREAM_HC_RETRY);
            return;
        }

        probe->name.data = p;
        probe->name.len = ngx_sock_ntop(&probe->sockaddr.sockaddr,
                                        peer->peer->socklen, p,
                                        NGX_SOCKADDR_STRLEN, 1);
    }

    probe->pc.sockaddr = &probe->sockaddr.sockaddr;
    probe->pc.socklen = peer->peer->socklen;
    probe->pc.name = &probe->name;
    probe->pc.get = ngx_event_get_peer;
    probe->pc.log = &probe->log;
    probe->pc.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&probe->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY) {

        /* no socket or connection to spare here: not the peer's fault */

        ngx_http_upstream_hc_finish(probe, NGX_HTTP_UPSTREAM_HC_RETRY);
        return;
    }

    if (rc == NGX_DECLINED) {

        /* connect() failed at once, and nginx logged why */

        ngx_http_upstream_hc_fail(probe, "connect() failed");
        return;
    }

    c = probe->pc.connection;

    c->data = probe;
    c->read->handler = ngx_http_upstream_hc_handler;
    c->write->handler = ngx_http_upstream_hc_handler;

    /* closed at once when the worker leaves */

    c->idle = 1;

    probe->state = NGX_HTTP_UPSTREAM_HC_CONNECTING;

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->write, check->connect_timeout);
        return;
    }

    ngx_http_upstream_hc_handler(c->write);
}


static void
ngx_http_upstream_hc_handler(ngx_event_t *ev)
{
    u_char                        *p;
    ngx_err_t                      err;
    ngx_int_t                      rc;
    ngx_connection_t              *c;
    ngx_http_upstream_hc_probe_t  *probe;
    u_char                         errstr[NGX_MAX_ERROR_STR];

    c = ev->data;
    probe = c->data;

    if (c->close) {
        ngx_http_upstream_hc_finish(probe, NGX_HTTP_UPSTREAM_HC_ABORT);
        return;
    }

    if (ev->timedout) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT, "timed out");

        ngx_http_upstream_hc_fail(probe, "timed out %s", probe->log.action);
        return;
    }

    if (probe->state == NGX_HTTP_UPSTREAM_HC_CONNECTING) {

        if (ngx_http_meshgate_test_connect(c, &err) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, c->log, err, "connect() to %V failed",
                          &probe->name);

            p = ngx_strerror(err, errstr, sizeof(errstr));

            ngx_http_upstream_hc_fail(probe, "connect() failed (%d: %*s)",
                                      err, p - errstr, errstr);
            return;
        }

        if (c->write->timer_set) {
            ngx_del_timer(c->write);
        }

        probe->state = NGX_HTTP_UPSTREAM_HC_SENDING;
        probe->log.action = "sending the request";

        ngx_add_timer(c->write, probe->check->send_timeout);
    }

    if (probe->state == NGX_HTTP_UPSTREAM_HC_SENDING) {

        rc = ngx_http_upstream_hc_send(probe);

        if (rc == NGX_ERROR) {
            ngx_http_upstream_hc_fail(probe, "send() failed");
            return;
        }

        if (rc == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_http_upstream_hc_fail(probe, "send() failed");
            }

            return;
        }

        if (c->write->timer_set) {
            ngx_del_timer(c->write);
        }

        probe->state = NGX_HTTP_UPSTREAM_HC_READING_HEAD;
        probe->log.action = "reading the response";

        ngx_add_timer(c->read, probe->check->read_timeout);
    }

    rc = ngx_http_upstream_hc_read(probe);

    if (rc == NGX_AGAIN) {
        if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            ngx_http_upstream_hc_fail(probe, "recv() failed");
        }
    }

    /* NGX_DONE: the probe is finished and gone */
}


static ngx_int_t
ngx_http_upstream_hc_send(ngx_http_upstream_hc_probe_t *probe)
{
    ssize_t            n;
    ngx_str_t         *request;
    ngx_connection_t  *c;

    c = probe->pc.connection;
    request = &probe->check->request;

    while (probe->sent < request->len) {
        n = c->send(c, request->data + probe->sent,
                    request->len - probe->sent);

        if (n == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (n <= 0) {
            return NGX_ERROR;
        }

        probe->sent += n;
    }

    return NGX_OK;
}


/* NGX_AGAIN: wait for more; NGX_DONE: the probe is finished */

static ngx_int_t
ngx_http_upstream_hc_read(ngx_http_upstream_hc_probe_t *probe)
{
    ngx_int_t  rc;

    if (probe->state == NGX_HTTP_UPSTREAM_HC_READING_HEAD) {
        rc = ngx_http_upstream_hc_read_head(probe);

        if (rc != NGX_OK) {
            return rc;
        }

        if (probe->check->match == NULL || !probe->check->match->body) {
            ngx_http_upstream_hc_verdict(probe);
            return NGX_DONE;
        }

        probe->state = NGX_HTTP_UPSTREAM_HC_READING_BODY;

        rc = ngx_http_upstream_hc_start_body(probe);

        if (rc != NGX_AGAIN) {
            return rc;
        }
    }

    return ngx_http_upstream_hc_read_body(probe);
}


static ngx_int_t
ngx_http_upstream_hc_read_head(ngx_http_upstream_hc_probe_t *probe)
{
    int                  rc;
    ssize_t              n;
    mg_http_header_t    *headers;
    ngx_connection_t    *c;

    c = probe->pc.connection;

    if (probe->buf == NULL) {
        probe->buf = ngx_palloc(probe->pool, probe->check->buffer_size);
        headers = ngx_palloc(probe->pool, NGX_HTTP_UPSTREAM_HC_HEADERS
                                          * sizeof(mg_http_header_t));

        if (probe->buf == NULL || headers == NULL) {
            ngx_http_upstream_hc_finish(probe, NGX_HTTP_UPSTREAM_HC_RETRY);
            return NGX_DONE;
        }

        mg_http_response_init(&probe->resp, headers,
                              NGX_HTTP_UPSTREAM_HC_HEADERS);
    }

    for ( ;; ) {
        if (probe->len == probe->check->buffer_size) {
            ngx_http_upstream_hc_fail(probe, "too big response head (over "
                                      "proxy_buffer_size, %uz bytes)",
                                      probe->check->buffer_size);
            return NGX_DONE;
        }

        n = c->recv(c, probe->buf + probe->len,
                    probe->check->buffer_size - probe->len);

        if (n == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (n == NGX_ERROR) {
            ngx_http_upstream_hc_fail(probe, "recv() failed");
            return NGX_DONE;
        }

        if (n == 0) {
            ngx_http_upstream_hc_fail(probe, probe->len
                                      ? "connection closed in the "
                                        "response head"
                                      : "connection closed without a "
                                        "response");
            return NGX_DONE;
        }

        probe->len += n;

        rc = mg_http_parse_response(&probe->resp, probe->buf, probe->len);

        if (rc == MG_HTTP_OK) {
            return NGX_OK;
        }

        if (rc == MG_HTTP_ERROR) {
            ngx_http_upstream_hc_fail(probe, "invalid response: %s",
                                      probe->resp.error);
            return NGX_DONE;
        }
    }
}


/* the first bytes of the body, which came with the head */

static ngx_int_t
ngx_http_upstream_hc_start_body(ngx_http_upstream_hc_probe_t *probe)
{
    size_t               n;
    u_char              *p, *last;
    mg_http_response_t  *resp;

    resp = &probe->resp;

    probe->body_size = NGX_HTTP_UPSTREAM_HC_BODY;

    if (resp->has_length && resp->content_length < NGX_HTTP_UPSTREAM_HC_BODY)
    {
        probe->body_size = (size_t) resp->content_length;
    }

    if (probe->body_size == 0) {
        ngx_http_upstream_hc_verdict(probe);
        return NGX_DONE;
    }

    probe->body = ngx_palloc(probe->pool, probe->body_size);
    if (probe->body == NULL) {
        ngx_http_upstream_hc_finish(probe, NGX_HTTP_UPSTREAM_HC_RETRY);
        return NGX_DONE;
    }

    p = probe->buf + resp->head_len;
    last = probe->buf + probe->len;

    if (resp->chunked) {
        probe->raw = ngx_palloc(probe->pool, probe->check->buffer_size);
        if (probe->raw == NULL) {
            ngx_http_upstream_hc_finish(probe, NGX_HTTP_UPSTREAM_HC_RETRY);
            return NGX_DONE;
        }

        mg_http_chunked_init(&probe->chunked);

        return ngx_http_upstream_hc_decode(probe, p, last);
    }

    n = ngx_min((size_t) (last - p), probe->body_size);

    ngx_memcpy(probe->body, p, n);
    probe->body_len = n;

    if (probe->body_len == probe->body_size) {
        ngx_http_upstream_hc_verdict(probe);
        return NGX_DONE;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_upstream_hc_read_body(ngx_http_upstream_hc_probe_t *probe)
{
    ssize_t              n;
    ngx_int_t            rc;
    ngx_connection_t    *c;

    c = probe->pc.connection;

    for ( ;; ) {
        if (probe->resp.chunked) {
            n = c->recv(c, probe->raw, probe->check->buffer_size);

        } else {
            n = c->recv(c, probe->body + probe->body_len,
                        probe->body_size - probe->body_len);
        }

        if (n == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (n == NGX_ERROR) {
            ngx_http_upstream_hc_fail(probe, "recv() failed");
            return NGX_DONE;
        }

        if (n == 0) {
            if (probe->resp.chunked || probe->resp.has_length) {
                ngx_http_upstream_hc_fail(probe, "connection closed in the "
                                          "response body");
                return NGX_DONE;
            }

            /* the body ends with the connection */

            ngx_http_upstream_hc_verdict(probe);
            return NGX_DONE;
        }

        if (probe->resp.chunked) {
            rc = ngx_http_upstream_hc_decode(probe, probe->raw,
                                             probe->raw + n);
            if (rc != NGX_AGAIN) {
                return rc;
            }

            continue;
        }

        probe->body_len += n;

        if (probe->body_len == probe->body_size) {
            ngx_http_upstream_hc_verdict(probe);
            return NGX_DONE;
        }
    }
}


static ngx_int_t
ngx_http_upstream_hc_decode(ngx_http_upstream_hc_probe_t *probe, u_char *p,
    u_char *last)
{
    int                   rc;
    const unsigned char  *pos;

    pos = p;

    rc = mg_http_parse_chunked(&probe->chunked, &pos, last, probe->body,
                               &probe->body_len, probe->body_size);

    if (rc == MG_HTTP_ERROR) {
        ngx_http_upstream_hc_fail(probe, "invalid chunked body: %s",
                                  probe->chunked.error);
        return NGX_DONE;
    }

    if (rc == MG_HTTP_OK || probe->body_len == probe->body_size) {
        ngx_http_upstream_hc_verdict(probe);
        return NGX_DONE;
    }

    return NGX_AGAIN;
}


static void
ngx_http_upstream_hc_verdict(ngx_http_upstream_hc_probe_t *probe)
{
    ngx_int_t  rc;
    ngx_str_t  body;

    body.data = probe->body;
    body.len = probe->body_len;

    rc = ngx_http_upstream_hc_test(probe->check, &probe->resp, &body,
                                   probe->reason, sizeof(probe->reason));

    if (rc != NGX_OK) {
        probe->log.action = NULL;

        ngx_log_error(NGX_LOG_INFO, &probe->log, 0,
                      "health check failed: %s", probe->reason);

        ngx_http_upstream_hc_finish(probe, NGX_HTTP_UPSTREAM_HC_FAIL);
        return;
    }

    ngx_http_upstream_hc_finish(probe, NGX_HTTP_UPSTREAM_HC_PASS);
}


static void
ngx_http_upstream_hc_fail(ngx_http_upstream_hc_probe_t *probe,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(probe->reason, probe->reason + sizeof(probe->reason) - 1,
                      fmt, args);
    va_end(args);

    *p = '\0';

    ngx_log_error(NGX_LOG_INFO, &probe->log, 0, "health check failed: %s",
                  probe->reason);

    ngx_http_upstream_hc_finish(probe, NGX_HTTP_UPSTREAM_HC_FAIL);
}


static void
ngx_http_upstream_hc_finish(ngx_http_upstream_hc_probe_t *probe,
    ngx_uint_t result)
{
    ngx_event_t                       *tick;
    ngx_http_upstream_hc_main_conf_t  *hmcf;

    hmcf = probe->hmcf;

    if (probe->pc.connection) {
        ngx_close_connection(probe->pc.connection);
        probe->pc.connection = NULL;
    }

    ngx_queue_remove(&probe->queue);

    ngx_http_upstream_hc_done(hmcf, probe->check, probe->peer, result,
                              probe->reason);

    /* the tick may sleep longer than this peer's next probe is away */

    tick = &hmcf->tick;

    if (result != NGX_HTTP_UPSTREAM_HC_ABORT
        && !ngx_http_upstream_hc_leaving()
        && (!tick->timer_set
            || (ngx_msec_int_t) (tick->timer.key - ngx_current_msec)
               > (ngx_msec_int_t) probe->check->interval))
    {
        if (tick->timer_set) {
            ngx_del_timer(tick);
        }

        ngx_add_timer(tick, probe->check->interval);
    }

    ngx_destroy_pool(probe->pool);
}


static u_char *
ngx_http_upstream_hc_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                        *p;
    ngx_http_upstream_hc_probe_t  *probe;

    probe = log->data;
    p = buf;

    if (log->action) {
        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    return ngx_snprintf(buf, len, ", health check \"%V\" of peer %V in "
                        "upstream \"%V\"", &probe->check->uri,
                        &probe->peer->name, &probe->check->group->name);
}
