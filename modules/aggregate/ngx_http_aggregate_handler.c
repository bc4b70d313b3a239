
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
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
 *
 * A part's uri is made here from its pieces: the values of variables in
 * it are percent-encoded so that each stays one path segment or one query
 * value, and the uri is never decoded after that.  The part's location
 * is found with it as it is, and the service gets it as it is (see
 * ngx_http_aggregate_precontent()).
 */


#include "ngx_http_aggregate_module.h"


static ngx_int_t ngx_http_aggregate_not_allowed(ngx_http_request_t *r);
static void ngx_http_aggregate_wake(ngx_http_request_t *r);
static void ngx_http_aggregate_run(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx);
static void ngx_http_aggregate_start(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, ngx_http_aggregate_part_ctx_t *part);
static ngx_int_t ngx_http_aggregate_make_uri(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, ngx_http_aggregate_part_t *conf,
    ngx_str_t *unparsed, ngx_str_t *uri, ngx_str_t *args);
static ngx_uint_t ngx_http_aggregate_dot_segment(ngx_str_t *uri);
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


/*
 * Runs in every request's precontent phase: a part that still has the
 * uri it was given, its location found, stops being an internal request.
 * Nothing after this phase looks at that but proxy_pass, which then sends
 * the uri as it is instead of percent-encoding it again (and realip's
 * variables); an internal redirect of the part makes it internal again,
 * with a uri of nginx's own.
 */

ngx_int_t
ngx_http_aggregate_precontent(ngx_http_request_t *r)
{
    ngx_uint_t                      i;
    ngx_http_aggregate_ctx_t       *ctx;
    ngx_http_aggregate_part_ctx_t  *part;

    if (r == r->main || !r->internal) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r->parent, ngx_http_aggregate_module);

    if (ctx == NULL) {
        return NGX_DECLINED;
    }

    for (i = 0; i < ctx->conf->parts->nelts; i++) {
        part = &ctx->parts[i];

        if (part->sr == r) {
            if (r->uri.data == part->uri.data && r->uri.len == part->uri.len) {
                r->internal = 0;
            }

            break;
        }
    }

    return NGX_DECLINED;
}


/*
 * A value as one path segment or one query value: all but letters,
 * digits, "-", ".", "_" and "~" percent-encoded, and the dots too of a
 * value made of dots alone, which would be a segment "." or ".." of its
 * own.  Returns the length of the result; with dst NULL, only that.
 */

size_t
ngx_http_aggregate_escape(u_char *dst, u_char *src, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (src[i] != '.') {
            break;
        }
    }

    if (len && i == len) {
        if (dst) {
            for (i = 0; i < len; i++) {
                dst = ngx_cpymem(dst, "%2E", 3);
            }
        }

        return 3 * len;
    }

    if (dst == NULL) {
        return len + 2 * ngx_escape_uri(NULL, src, len,
                                        NGX_ESCAPE_URI_COMPONENT);
    }

    return (u_char *) ngx_escape_uri(dst, src, len, NGX_ESCAPE_URI_COMPONENT)
           - dst;
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
    ngx_str_t                       uri, args, unparsed;
    ngx_uint_t                      i, *used;
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

    if (ngx_http_aggregate_make_uri(r, ctx, conf, &unparsed, &uri, &args)
        != NGX_OK)
    {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                               "request failed");
        return;
    }

    /* the text of the uri itself, around an empty value, can make one */

    if (ngx_http_aggregate_dot_segment(&uri)) {
        part->detail = ngx_http_aggregate_text(r, &unparsed);
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

    /*
     * The uri as it is sent ($request_uri, proxy_pass without a uri,
     * grpc_pass, cache keys): the part's own, not the client's.
     */

    sr->unparsed_uri = unparsed;
    sr->valid_unparsed_uri = 1;

    part->sr = sr;
    part->uri = uri;
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
                   &conf->name, &unparsed);
}


/*
 * The part's uri: its text as configured, each variable's value encoded
 * as one segment or one query value.  unparsed is the whole, uri and args
 * the parts of it before and after the text's own "?".
 */

static ngx_int_t
ngx_http_aggregate_make_uri(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, ngx_http_aggregate_part_t *conf,
    ngx_str_t *unparsed, ngx_str_t *uri, ngx_str_t *args)
{
    u_char                    *p;
    size_t                     len;
    ngx_str_t                 *values;
    ngx_uint_t                 i, n;
    ngx_http_aggregate_elt_t  *elt;

    elt = conf->elts->elts;
    n = conf->elts->nelts;

    values = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
    if (values == NULL) {
        return NGX_ERROR;
    }

    len = (conf->args != NGX_CONF_UNSET_UINT) ? 1 : 0;

    for (i = 0; i < n; i++) {

        if (elt[i].value == NULL) {
            values[i] = elt[i].text;
            len += values[i].len;

        } else if (elt[i].binding != NGX_CONF_UNSET_UINT) {
            values[i] = ctx->values[elt[i].binding];
            len += values[i].len;

        } else {
            if (ngx_http_complex_value(r, elt[i].value, &values[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            len += ngx_http_aggregate_escape(NULL, values[i].data,
                                             values[i].len);
        }
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    unparsed->data = p;
    uri->data = p;
    ngx_str_null(args);

    for (i = 0; i <= n; i++) {

        if (i == conf->args) {
            uri->len = p - uri->data;
            *p++ = '?';
            args->data = p;
        }

        if (i == n) {
            break;
        }

        if (elt[i].value == NULL || elt[i].binding != NGX_CONF_UNSET_UINT) {
            p = ngx_cpymem(p, values[i].data, values[i].len);

        } else {
            p += ngx_http_aggregate_escape(p, values[i].data, values[i].len);
        }
    }

    unparsed->len = p - unparsed->data;

    if (conf->args == NGX_CONF_UNSET_UINT) {
        uri->len = unparsed->len;

    } else {
        args->len = p - args->data;
    }

    return NGX_OK;
}


/* a segment "." or "..": "/a/../b", "/a/.", "/./b" */

static ngx_uint_t
ngx_http_aggregate_dot_segment(ngx_str_t *uri)
{
    u_char  *p, *last, *start;

    last = uri->data + uri->len;

    for (p = uri->data; p < last; p = start) {
        start = p + 1;

        while (start < last && *start != '/') {
            start++;
        }

        /* p is at a "/", the segment runs to start */

        if ((start - p == 2 && p[1] == '.')
            || (start - p == 3 && p[1] == '.' && p[2] == '.'))
        {
            return 1;
        }
    }

    return 0;
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
