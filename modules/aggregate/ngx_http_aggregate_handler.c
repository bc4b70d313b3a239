
/*
 * meshgate: aggregate's requests.  The content handler starts every part
 * that depends on no other as a subrequest at once; a part that uses a
 * value of an earlier one starts when that one is read.  Each part's body
 * is kept in memory (ngx_http_meshgate_capture()), so that no part ever
 * writes to the client: the answer is written by the aggregating request
 * alone, once every part is done or at the first failed required part.
 *
 * Parts are background subrequests: they are not in the postponed list
 * of the aggregating request, so the answer can go out while parts still
 * run, and a part can end in any order.  The price is that nginx wakes
 * nobody when one ends; the post-subrequest handler does.
 *
 * Stopping a part early (its timeout, the overall deadline, a failed
 * required part) finalizes its subrequest the way nginx does when a client
 * goes away: through the cleanup its upstream registered on the main
 * request.  A nested aggregate is stopped by this module itself.  Other
 * content handlers (static files, return) do not wait and need no
 * stopping.  A part waiting for the client connection's events (a
 * limit_req delay) gets them from the aggregating request, and is let
 * go on to its end when stopped.  A part that waits for anything else (a
 * module of its own) is left to end in the background, holding the
 * connection, never writing to it.
 */


#include "ngx_http_aggregate_module.h"


static ngx_int_t ngx_http_aggregate_not_allowed(ngx_http_request_t *r);
static void ngx_http_aggregate_wake(ngx_http_request_t *r);
static void ngx_http_aggregate_run(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx);
static void ngx_http_aggregate_start(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, ngx_http_aggregate_part_ctx_t *part);
static ngx_int_t ngx_http_aggregate_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr);
static ngx_int_t ngx_http_aggregate_part_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_aggregate_part_timeout(ngx_event_t *ev);
static void ngx_http_aggregate_deadline(ngx_event_t *ev);
static void ngx_http_aggregate_stop_part(ngx_http_request_t *r,
    ngx_http_aggregate_part_ctx_t *part);
static void ngx_http_aggregate_finish(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, ngx_http_aggregate_part_ctx_t *failed);
static void ngx_http_aggregate_close(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx);
static void ngx_http_aggregate_report(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx);
static void ngx_http_aggregate_cleanup(void *data);


/* request headers a part never gets: it must answer a whole, plain body */

static ngx_str_t  ngx_http_aggregate_hidden[] = {
    ngx_string("accept-encoding"),
    ngx_string("range"),
    ngx_string("if-range"),
    ngx_string("if-match"),
    ngx_string("if-none-match"),
    ngx_string("if-modified-since"),
    ngx_string("if-unmodified-since"),
    ngx_string("content-length"),
    ngx_string("transfer-encoding"),
    ngx_null_string
};


ngx_int_t
ngx_http_aggregate_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_uint_t                      i, n;
    ngx_http_cleanup_t             *cln;
    ngx_http_aggregate_ctx_t       *ctx;
    ngx_http_aggregate_part_t      *conf;
    ngx_http_aggregate_loc_conf_t  *alcf;
    ngx_http_aggregate_part_ctx_t  *part;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_aggregate_not_allowed(r);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aggregate_module);

    n = alcf->parts->nelts;
    conf = alcf->parts->elts;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_aggregate_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->parts = ngx_pcalloc(r->pool,
                             n * sizeof(ngx_http_aggregate_part_ctx_t));
    if (ctx->parts == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (alcf->bindings) {
        ctx->values = ngx_pcalloc(r->pool,
                                  alcf->bindings->nelts * sizeof(ngx_str_t));
        if (ctx->values == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* timers must not outlive a request that ends without us */

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_aggregate_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ctx->conf = alcf;
    ctx->cleanup = cln;

    for (i = 0; i < n; i++) {
        part = &ctx->parts[i];

        part->ctx = ctx;
        part->conf = &conf[i];

        part->timer.handler = ngx_http_aggregate_part_timeout;
        part->timer.data = part;
        part->timer.log = r->connection->log;
    }

    ctx->deadline.handler = ngx_http_aggregate_deadline;
    ctx->deadline.data = ctx;
    ctx->deadline.log = r->connection->log;

    ngx_add_timer(&ctx->deadline, alcf->timeout);

    ngx_http_set_ctx(r, ctx, ngx_http_aggregate_module);

    /*
     * The parts wake this request as they end; a client that goes away
     * meanwhile is noticed, and takes the parts with it.
     */

    r->main->count++;
    r->write_event_handler = ngx_http_aggregate_wake;

    if (r == r->main && !r->discard_body) {
        r->read_event_handler = ngx_http_test_reading;
    }

    ngx_http_aggregate_run(r, ctx);

    return NGX_DONE;
}


static ngx_int_t
ngx_http_aggregate_not_allowed(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "Allow");
    ngx_str_set(&h->value, "GET, HEAD");
    h->lowcase_key = (u_char *) "allow";

    return NGX_HTTP_NOT_ALLOWED;
}


/*
 * Called when a part ends, and for the client connection's write events:
 * parts waiting for these (a limit_req delay in their location) get them.
 */

static void
ngx_http_aggregate_wake(ngx_http_request_t *r)
{
    ngx_uint_t                      i;
    ngx_http_request_t             *sr;
    ngx_http_aggregate_ctx_t       *ctx;
    ngx_http_aggregate_part_ctx_t  *part;

    ctx = ngx_http_get_module_ctx(r, ngx_http_aggregate_module);

    if (ctx == NULL || ctx->done) {
        return;
    }

    for (i = 0; i < ctx->conf->parts->nelts; i++) {
        part = &ctx->parts[i];
        sr = part->sr;

        if (part->state == NGX_HTTP_AGGREGATE_RUNNING
            && sr->read_event_handler == ngx_http_test_reading)
        {
            sr->write_event_handler(sr);
        }
    }

    ngx_http_aggregate_run(r, ctx);
}


/*
 * One pass in the order of the parts: a part only ever depends on earlier
 * ones, so they are read before it is looked at.
 */

static void
ngx_http_aggregate_run(ngx_http_request_t *r, ngx_http_aggregate_ctx_t *ctx)
{
    ngx_uint_t                      i, n, waiting;
    ngx_http_aggregate_part_ctx_t  *part;

    if (ctx->done) {
        return;
    }

    r->connection->log->action = "aggregating parts";

    waiting = 0;
    n = ctx->conf->parts->nelts;

    for (i = 0; i < n; i++) {
        part = &ctx->parts[i];

        if (part->state == NGX_HTTP_AGGREGATE_FINISHED) {
            ngx_http_aggregate_read(r, ctx, part);
        }

        if (part->state == NGX_HTTP_AGGREGATE_PENDING) {
            ngx_http_aggregate_start(r, ctx, part);
        }

        if (part->state != NGX_HTTP_AGGREGATE_DONE) {
            waiting++;
            continue;
        }

        if (part->outcome != NGX_HTTP_AGGREGATE_OK && !part->conf->optional) {
            ngx_http_aggregate_finish(r, ctx, part);
            return;
        }
    }

    if (waiting == 0) {
        ngx_http_aggregate_finish(r, ctx, NULL);
    }
}


static void
ngx_http_aggregate_start(ngx_http_request_t *r, ngx_http_aggregate_ctx_t *ctx,
    ngx_http_aggregate_part_ctx_t *part)
{
    ngx_str_t                       uri, args;
    ngx_uint_t                      i, flags, *used;
    ngx_http_request_t             *sr;
    ngx_http_aggregate_part_t      *conf;
    ngx_http_post_subrequest_t     *ps;
    ngx_http_aggregate_binding_t   *b;
    ngx_http_aggregate_part_ctx_t  *source;

    conf = part->conf;

    if (conf->bindings) {
        b = ctx->conf->bindings->elts;
        used = conf->bindings->elts;

        for (i = 0; i < conf->bindings->nelts; i++) {
            source = &ctx->parts[b[used[i]].source];

            if (source->state != NGX_HTTP_AGGREGATE_DONE) {
                return;
            }

            if (source->outcome != NGX_HTTP_AGGREGATE_OK) {
                ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_SKIPPED,
                                       "dependency failed");
                return;
            }
        }

        for (i = 0; i < conf->bindings->nelts; i++) {
            if (ctx->values[used[i]].len == 0) {
                part->detail = ngx_http_aggregate_text(r, &b[used[i]].spec);
                ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_SKIPPED,
                                       "value missing");
                return;
            }
        }
    }

    if (ngx_http_complex_value(r, &conf->uri, &uri) != NGX_OK) {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                               "request failed");
        return;
    }

    ngx_str_null(&args);
    flags = NGX_HTTP_LOG_UNSAFE;

    if (uri.len == 0 || uri.data[0] != '/'
        || ngx_http_parse_unsafe_uri(r, &uri, &args, &flags) != NGX_OK)
    {
        part->detail = ngx_http_aggregate_text(r, &uri);
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                               "invalid uri");
        return;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                               "request failed");
        return;
    }

    ps->handler = ngx_http_aggregate_part_done;
    ps->data = part;

    if (ngx_http_subrequest(r, &uri, &args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                               "request failed");
        return;
    }

    /*
     * From here the subrequest exists and will run: it ends as any other,
     * through ngx_http_aggregate_part_done().
     */

    part->sr = sr;
    part->state = NGX_HTTP_AGGREGATE_RUNNING;

    part->body = ngx_http_meshgate_capture(sr, ctx->conf->buffer_size);

    if (part->body == NULL || ngx_http_aggregate_headers(r, sr) != NGX_OK) {
        /* out of memory: the part fails, its body is not even produced */
        sr->header_only = 1;
        part->body = NULL;
    }

    if (conf->timeout) {
        ngx_add_timer(&part->timer, conf->timeout);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "aggregate: part \"%V\" started: \"%V\"",
                   &conf->name, &uri);
}


/* the client's headers, without those that ask for less than a body */

static ngx_int_t
ngx_http_aggregate_headers(ngx_http_request_t *r, ngx_http_request_t *sr)
{
    ngx_str_t        *hide;
    ngx_uint_t        i;
    ngx_list_part_t  *lp;
    ngx_table_elt_t  *h, *copy;

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 8,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    lp = &r->headers_in.headers.part;
    h = lp->elts;

    for (i = 0; /* void */; i++) {

        if (i >= lp->nelts) {
            if (lp->next == NULL) {
                break;
            }

            lp = lp->next;
            h = lp->elts;
            i = 0;
        }

        for (hide = ngx_http_aggregate_hidden; hide->len; hide++) {
            if (h[i].key.len == hide->len
                && ngx_strncmp(h[i].lowcase_key, hide->data, hide->len) == 0)
            {
                break;
            }
        }

        if (hide->len) {
            continue;
        }

        copy = ngx_list_push(&sr->headers_in.headers);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = h[i];
    }

    sr->headers_in.if_modified_since = NULL;
    sr->headers_in.if_unmodified_since = NULL;
    sr->headers_in.if_match = NULL;
    sr->headers_in.if_none_match = NULL;
    sr->headers_in.range = NULL;
    sr->headers_in.if_range = NULL;
    sr->headers_in.content_length = NULL;
    sr->headers_in.transfer_encoding = NULL;
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    sr->headers_in.accept_encoding = NULL;
#endif
    sr->headers_in.content_length_n = -1;
    sr->headers_in.chunked = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_aggregate_part_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_aggregate_part_ctx_t  *part = data;

    ngx_http_aggregate_ctx_t  *ctx;

    ctx = part->ctx;

    if (part->sr != sr || part->state != NGX_HTTP_AGGREGATE_RUNNING) {
        goto done;
    }

    if (rc == NGX_HTTP_CREATED || rc == NGX_HTTP_NO_CONTENT
        || (rc >= NGX_HTTP_SPECIAL_RESPONSE && rc != NGX_HTTP_CLOSE
            && rc != NGX_HTTP_REQUEST_TIME_OUT
            && rc != NGX_HTTP_CLIENT_CLOSED_REQUEST))
    {
        /*
         * nginx answers for the part first, with its own page or what
         * error_page says: the part ends after that, as it answers.
         */

        if (part->error == 0) {
            part->error = rc;
        }

        goto done;
    }

    if (sr->buffered || sr->postponed) {
        /* it still has output to send: called again when it is sent */
        goto done;
    }

    part->state = NGX_HTTP_AGGREGATE_FINISHED;
    part->rc = rc;

    if (part->timer.timer_set) {
        ngx_del_timer(&part->timer);
    }

    if (!ctx->done) {
        (void) ngx_http_post_request(ctx->request, NULL);
    }

done:

    /*
     * A part's error is the part's failure, not the request's: what would
     * terminate the whole request (and every other part with it) ends
     * just this subrequest, unless the client itself is gone.
     */

    if ((rc == NGX_ERROR || rc == NGX_HTTP_REQUEST_TIME_OUT
         || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST || rc == NGX_HTTP_CLOSE)
        && !sr->connection->error)
    {
        return NGX_OK;
    }

    return rc;
}


static void
ngx_http_aggregate_part_timeout(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_aggregate_ctx_t       *ctx;
    ngx_http_aggregate_part_ctx_t  *part;

    part = ev->data;
    ctx = part->ctx;
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_TIMEOUT, "timed out");
    ngx_http_aggregate_stop_part(r, part);
    ngx_http_aggregate_run(r, ctx);

    ngx_http_run_posted_requests(c);
}


/* the overall deadline: what has not ended has timed out */

static void
ngx_http_aggregate_deadline(ngx_event_t *ev)
{
    ngx_uint_t                      i;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_aggregate_ctx_t       *ctx;
    ngx_http_aggregate_part_ctx_t  *part;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    for (i = 0; i < ctx->conf->parts->nelts; i++) {
        part = &ctx->parts[i];

        switch (part->state) {

        case NGX_HTTP_AGGREGATE_RUNNING:
            ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_TIMEOUT,
                                   "timed out");
            ngx_http_aggregate_stop_part(r, part);
            break;

        case NGX_HTTP_AGGREGATE_PENDING:
            ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_TIMEOUT,
                                   "timed out");
            break;

        default:
            break;
        }
    }

    ngx_http_aggregate_run(r, ctx);

    ngx_http_run_posted_requests(c);
}


/* ends the subrequest of a part whose outcome is already set */

static void
ngx_http_aggregate_stop_part(ngx_http_request_t *r,
    ngx_http_aggregate_part_ctx_t *part)
{
    ngx_event_t               *wev;
    ngx_http_request_t        *sr;
    ngx_http_cleanup_pt        handler;
    ngx_http_cleanup_t        *cln;
    ngx_http_aggregate_ctx_t  *nested;

    sr = part->sr;

    if (part->timer.timer_set) {
        ngx_del_timer(&part->timer);
    }

    nested = ngx_http_get_module_ctx(sr, ngx_http_aggregate_module);

    if (nested && !nested->done) {
        ngx_http_aggregate_close(sr, nested);
        ngx_http_finalize_request(sr, NGX_DONE);
        return;
    }

    /*
     * What an upstream registered for the subrequest: the very handler
     * nginx calls when the client goes away.  It closes the connection to
     * the service and ends the subrequest.
     */

    for (cln = r->main->cleanup; cln; cln = cln->next) {
        if (cln->data == sr && cln->handler) {
            handler = cln->handler;
            cln->handler = NULL;

            handler(sr);
            return;
        }
    }

    /*
     * A part waiting for the client connection (a limit_req delay, output
     * to flush) waits for events that only the aggregating request gets:
     * it is let go on at once, by itself, and its answer is dropped.
     */

    if (sr->read_event_handler == ngx_http_test_reading) {
        wev = sr->connection->write;

        if (wev->delayed) {
            wev->delayed = 0;

            if (wev->timer_set) {
                ngx_del_timer(wev);
            }
        }

        sr->write_event_handler(sr);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "aggregate: part \"%V\" waits for something nginx cannot "
                  "stop from here, it goes on in the background",
                  &part->conf->name);
}


/* failed: the required part whose failure ends the request, or NULL */

static void
ngx_http_aggregate_finish(ngx_http_request_t *r, ngx_http_aggregate_ctx_t *ctx,
    ngx_http_aggregate_part_ctx_t *failed)
{
    ngx_int_t  rc;

    ngx_http_aggregate_close(r, ctx);

    rc = ngx_http_aggregate_send(r, ctx, failed);

    ngx_http_finalize_request(r, rc);
}


/*
 * Ends the aggregation: no more timers, no part left running, every
 * outcome reported once.
 */

static void
ngx_http_aggregate_close(ngx_http_request_t *r, ngx_http_aggregate_ctx_t *ctx)
{
    ngx_uint_t                      i;
    ngx_http_aggregate_part_ctx_t  *part;

    ctx->done = 1;
    ctx->cleanup->handler = NULL;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    for (i = 0; i < ctx->conf->parts->nelts; i++) {
        part = &ctx->parts[i];

        if (part->state == NGX_HTTP_AGGREGATE_DONE) {
            continue;
        }

        /* the answer does not need it any more (a required part failed) */

        part->outcome = NGX_HTTP_AGGREGATE_SKIPPED;

        if (part->state == NGX_HTTP_AGGREGATE_RUNNING) {
            part->state = NGX_HTTP_AGGREGATE_DONE;
            ngx_http_aggregate_stop_part(r, part);
        }

        part->state = NGX_HTTP_AGGREGATE_DONE;
    }

    ngx_http_aggregate_report(r, ctx);
}


static void
ngx_http_aggregate_report(ngx_http_request_t *r, ngx_http_aggregate_ctx_t *ctx)
{
    ngx_uint_t                      i;
    ngx_http_aggregate_part_ctx_t  *part;

    static ngx_str_t  outcomes[] = {
        ngx_string("ok"),
        ngx_string("status"),
        ngx_string("invalid"),
        ngx_string("too_large"),
        ngx_string("timeout"),
        ngx_string("error"),
        ngx_string("skipped")
    };

    for (i = 0; i < ctx->conf->parts->nelts; i++) {
        part = &ctx->parts[i];

        ngx_http_meshgate_report(r->main, NGX_HTTP_MESHGATE_AGGREGATE,
                                 &part->conf->name, &outcomes[part->outcome]);
    }
}


/*
 * The request ends without an answer from this module (the client went
 * away, the request was terminated): the parts' upstreams are cleaned up
 * by their own handlers, the timers here.
 */

static void
ngx_http_aggregate_cleanup(void *data)
{
    ngx_http_aggregate_ctx_t  *ctx = data;

    ngx_uint_t                      i;
    ngx_http_aggregate_part_ctx_t  *part;

    ctx->done = 1;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    for (i = 0; i < ctx->conf->parts->nelts; i++) {
        part = &ctx->parts[i];

        if (part->timer.timer_set) {
            ngx_del_timer(&part->timer);
        }

        if (part->state != NGX_HTTP_AGGREGATE_DONE) {
            part->state = NGX_HTTP_AGGREGATE_DONE;
            part->outcome = NGX_HTTP_AGGREGATE_SKIPPED;
        }
    }

    ngx_http_aggregate_report(ctx->request, ctx);
}
