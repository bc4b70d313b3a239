
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: limit_redis's phase handlers, the verdict on each request, its
 * delay, its headers and $limit_redis_status.
 *
 * Phases.  A key may be built from variables that another module sets in
 * the ACCESS phase, such as auth_jwt's $jwt_*, which exist only once the
 * token is verified.  So the module has a handler in PREACCESS, where it
 * works as limit_req does, and one in ACCESS, and exactly one of them
 * works for a request: the ACCESS one where a module sets variables there
 * (ngx_http_meshgate_access_variables() of the base module), the
 * PREACCESS one otherwise.  Handlers of a phase run in the reverse order
 * of their registration and modules register in the order "config" lists
 * them: limit_redis comes before auth_jwt there, so its ACCESS handler runs
 * right after auth_jwt's (ngx_http_limit_redis_init() has the base module
 * check the order).  A request auth_jwt refuses is never counted.  The
 * ACCESS handler never returns NGX_OK, which "satisfy any" would take for
 * a granted access; and as "satisfy any" skips the rest of the ACCESS
 * phase once auth_jwt grants access, a PRECONTENT handler limits such
 * requests then.
 *
 * Only main requests are limited, once: subrequests never are, and a
 * request keeps its verdict across internal redirects (the base module
 * keeps the context in a pool cleanup, where it survives the reset of
 * module contexts).
 *
 * A request is checked in a batch (ngx_http_limit_redis_batch.c): the
 * handler adds it and waits, the batch's reply runs the phases again, and
 * the handler then decides with the reply.
 */


#include "ngx_http_limit_redis_module.h"


/* the contexts a worker keeps for new requests, at most */
#define NGX_HTTP_LIMIT_REDIS_FREE_CTXS  1024


static ngx_int_t ngx_http_limit_redis_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_limit_redis_start(ngx_http_request_t *r,
    ngx_http_limit_redis_conf_t *lrcf);
static ngx_int_t ngx_http_limit_redis_decide(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx);
static void ngx_http_limit_redis_report(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx, ngx_uint_t local);
static ngx_int_t ngx_http_limit_redis_headers(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx);
static ngx_table_elt_t *ngx_http_limit_redis_add_header(
    ngx_http_request_t *r, char *name, char *lowcase, size_t len);
static ngx_int_t ngx_http_limit_redis_wait(ngx_http_request_t *r,
    ngx_http_event_handler_pt handler);
static void ngx_http_limit_redis_delay(ngx_http_request_t *r);
static ngx_http_limit_redis_ctx_t *ngx_http_limit_redis_new_ctx(
    ngx_http_request_t *r);
static void ngx_http_limit_redis_cleanup(void *data);

static ngx_int_t ngx_http_limit_redis_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_limit_redis_vars[] = {

    { ngx_string("limit_redis_status"), NULL,
      ngx_http_limit_redis_status_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_limit_redis_statuses[] = {
    ngx_string("PASSED"),
    ngx_string("DELAYED"),
    ngx_string("REJECTED"),
    ngx_string("DELAYED_DRY_RUN"),
    ngx_string("REJECTED_DRY_RUN"),
    ngx_string("ERROR"),
    ngx_string("LOCAL_PASSED"),
    ngx_string("LOCAL_DELAYED"),
    ngx_string("LOCAL_REJECTED"),
    ngx_string("LOCAL_DELAYED_DRY_RUN"),
    ngx_string("LOCAL_REJECTED_DRY_RUN")
};


/* the same, as each zone's outcome is reported for metrics */

static ngx_str_t  ngx_http_limit_redis_outcomes[] = {
    ngx_string("passed"),
    ngx_string("delayed"),
    ngx_string("rejected"),
    ngx_string("delayed_dry_run"),
    ngx_string("rejected_dry_run"),
    ngx_string("error"),
    ngx_string("local_passed"),
    ngx_string("local_delayed"),
    ngx_string("local_rejected"),
    ngx_string("local_delayed_dry_run"),
    ngx_string("local_rejected_dry_run")
};


ngx_int_t
ngx_http_limit_redis_preaccess_handler(ngx_http_request_t *r)
{
    ngx_http_limit_redis_conf_t  *lrcf;

    lrcf = ngx_http_get_module_loc_conf(r, ngx_http_limit_redis_module);

    if (lrcf->limits.nelts == 0 || ngx_http_meshgate_access_variables(r))
    {
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "limit_redis in preaccess phase");

    return ngx_http_limit_redis_handler(r);
}


/* the ACCESS and PRECONTENT handler: only after the variables are set */

ngx_int_t
ngx_http_limit_redis_access_handler(ngx_http_request_t *r)
{
    ngx_http_limit_redis_conf_t  *lrcf;

    lrcf = ngx_http_get_module_loc_conf(r, ngx_http_limit_redis_module);

    if (lrcf->limits.nelts == 0 || !ngx_http_meshgate_access_variables(r))
    {
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "limit_redis in access phase, phase handler %ui",
                   r->phase_handler);

    return ngx_http_limit_redis_handler(r);
}


static ngx_int_t
ngx_http_limit_redis_handler(ngx_http_request_t *r)
{
    ngx_http_limit_redis_ctx_t   *ctx;
    ngx_http_limit_redis_conf_t  *lrcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_meshgate_get_ctx(r, &ngx_http_limit_redis_module);

    if (ctx == NULL) {
        lrcf = ngx_http_get_module_loc_conf(r, ngx_http_limit_redis_module);
        return ngx_http_limit_redis_start(r, lrcf);
    }

    switch (ctx->state) {

    case NGX_HTTP_LIMIT_REDIS_WAITING:
        return NGX_AGAIN;

    case NGX_HTTP_LIMIT_REDIS_REPLIED:
        return ngx_http_limit_redis_decide(r, ctx);

    default: /* NGX_HTTP_LIMIT_REDIS_DONE */
        return NGX_DECLINED;
    }
}


static ngx_int_t
ngx_http_limit_redis_start(ngx_http_request_t *r,
    ngx_http_limit_redis_conf_t *lrcf)
{
    ngx_str_t                      key, reason;
    ngx_uint_t                     i;
    ngx_http_limit_redis_ctx_t    *ctx;
    ngx_http_limit_redis_zone_t   *zone;
    ngx_http_limit_redis_limit_t  *limit;

    ctx = ngx_http_limit_redis_new_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->conf = lrcf;
    ctx->batch = NULL;
    ctx->slot = 0;
    ctx->n = 0;
    ctx->status = 0;
    ctx->state = NGX_HTTP_LIMIT_REDIS_DONE;
    ctx->failed = 0;

    limit = lrcf->limits.elts;

    for (i = 0; i < lrcf->limits.nelts; i++) {
        zone = limit[i].zone;

        if (ngx_http_complex_value(r, &zone->key, &key) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (key.len == zone->prefix) {
            continue;
        }

        if (key.len - zone->prefix > NGX_HTTP_LIMIT_REDIS_MAX_KEY) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "limit_redis: the key of zone \"%V\" is more "
                          "than %d bytes, not limited",
                          &zone->name, NGX_HTTP_LIMIT_REDIS_MAX_KEY);
            continue;
        }

        ctx->limits[ctx->n] = &limit[i];
        ctx->keys[ctx->n] = key;
        ctx->zones[ctx->n].limit = &limit[i].gcra;
        ctx->zones[ctx->n].backlog = 0;

        ctx->n++;
    }

    if (ctx->n == 0) {
        return NGX_DECLINED;
    }

    if (ngx_http_limit_redis_add(ctx) == NGX_OK) {

        if (ngx_http_limit_redis_wait(r, ngx_http_request_empty_handler)
            != NGX_OK)
        {
            ngx_http_limit_redis_leave(ctx);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->state = NGX_HTTP_LIMIT_REDIS_WAITING;

        return NGX_AGAIN;
    }

    /* every batch the worker may have is taken */

    ngx_str_set(&reason, "too many commands waiting");

    ngx_http_limit_redis_failed(r, ctx, &reason);

    return ngx_http_limit_redis_decide(r, ctx);
}


static ngx_int_t
ngx_http_limit_redis_decide(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx)
{
    ngx_uint_t                    i, status, local;
    ngx_msec_t                    delay;
    mg_gcra_decision_t           *d;
    ngx_http_limit_redis_conf_t  *lrcf;

    lrcf = ctx->conf;
    ctx->state = NGX_HTTP_LIMIT_REDIS_DONE;

    d = &ctx->decision;
    local = 0;

    if (ctx->failed) {

        if (lrcf->fail == NGX_HTTP_LIMIT_REDIS_FAIL_LOCAL
            && ngx_http_limit_redis_local_decide(ctx) == NGX_OK)
        {
            local = NGX_HTTP_LIMIT_REDIS_LOCAL;

        } else {
            ctx->status = NGX_HTTP_LIMIT_REDIS_ERROR;

            ngx_http_limit_redis_report(r, ctx, 0);

            if (lrcf->fail == NGX_HTTP_LIMIT_REDIS_FAIL_CLOSED
                && !lrcf->dry_run)
            {
                return lrcf->status_code;
            }

            return NGX_DECLINED;
        }
    }

    switch (d->outcome) {

    case MG_GCRA_REJECTED:
        status = lrcf->dry_run ? NGX_HTTP_LIMIT_REDIS_REJECTED_DRY_RUN
                               : NGX_HTTP_LIMIT_REDIS_REJECTED;

        ngx_log_error(lrcf->log_level, r->connection->log, 0,
                      "limit_redis: limiting requests by zone \"%V\"%s%s, "
                      "retry in %Lms",
                      &ctx->limits[d->binding]->zone->name,
                      local ? ", locally" : "",
                      lrcf->dry_run ? ", dry run" : "",
                      (d->retry + 999) / 1000);
        break;

    case MG_GCRA_DELAYED:
        status = lrcf->dry_run ? NGX_HTTP_LIMIT_REDIS_DELAYED_DRY_RUN
                               : NGX_HTTP_LIMIT_REDIS_DELAYED;

        for (i = 0; ctx->zones[i].delay != d->delay; i++) {
            /* void */
        }

        ngx_log_error(lrcf->delay_log_level, r->connection->log, 0,
                      "limit_redis: delaying request by zone \"%V\"%s%s, "
                      "for %Lms",
                      &ctx->limits[i]->zone->name,
                      local ? ", locally" : "",
                      lrcf->dry_run ? ", dry run" : "",
                      (d->delay + 999) / 1000);
        break;

    default: /* MG_GCRA_PASSED */
        status = NGX_HTTP_LIMIT_REDIS_PASSED;
    }

    ctx->status = status + local;

    ngx_http_limit_redis_report(r, ctx, local);

    /* a dry run stays invisible to clients */

    if (lrcf->dry_run) {
        return NGX_DECLINED;
    }

    if (lrcf->headers && ngx_http_limit_redis_headers(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (d->outcome == MG_GCRA_REJECTED) {
        return lrcf->status_code;
    }

    if (d->outcome == MG_GCRA_PASSED) {
        return NGX_DECLINED;
    }

    /* delayed, as limit_req does: the worker goes on, a timer wakes us */

    if (ngx_http_limit_redis_wait(r, ngx_http_limit_redis_delay) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    delay = (ngx_msec_t) ((d->delay + 999) / 1000);

    r->connection->write->delayed = 1;
    ngx_add_timer(r->connection->write, delay);

    return NGX_AGAIN;
}


/*
 * RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers)
 * describe the most restrictive zone, Retry-After comes with rejections;
 * the exact formulas are in docs/limit_redis.md (Headers).
 */

/*
 * One outcome per zone: the zone's own verdict, so that a request that one
 * zone rejects counts as rejected in that zone only (it charges none).
 */

static void
ngx_http_limit_redis_report(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx, ngx_uint_t local)
{
    ngx_uint_t       i, status, dry_run;
    mg_gcra_zone_t  *z;

    dry_run = ctx->conf->dry_run;

    for (i = 0; i < ctx->n; i++) {
        z = &ctx->zones[i];

        if (ctx->status == NGX_HTTP_LIMIT_REDIS_ERROR) {
            status = NGX_HTTP_LIMIT_REDIS_ERROR;

        } else if (!z->fits) {
            status = local + (dry_run ? NGX_HTTP_LIMIT_REDIS_REJECTED_DRY_RUN
                                      : NGX_HTTP_LIMIT_REDIS_REJECTED);

        } else if (z->delay > 0) {
            status = local + (dry_run ? NGX_HTTP_LIMIT_REDIS_DELAYED_DRY_RUN
                                      : NGX_HTTP_LIMIT_REDIS_DELAYED);

        } else {
            status = local + NGX_HTTP_LIMIT_REDIS_PASSED;
        }

        ngx_http_meshgate_report(r, NGX_HTTP_MESHGATE_LIMIT_REDIS,
                                 &ctx->limits[i]->zone->name,
                                 &ngx_http_limit_redis_outcomes[status - 1]);
    }
}


static ngx_int_t
ngx_http_limit_redis_headers(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx)
{
    u_char                        *p;
    mg_gcra_zone_t                *z;
    ngx_table_elt_t               *h;
    mg_gcra_decision_t            *d;
    ngx_http_limit_redis_limit_t  *limit;

    d = &ctx->decision;
    z = &ctx->zones[d->binding];
    limit = ctx->limits[d->binding];

    h = ngx_http_limit_redis_add_header(r, "RateLimit-Policy",
                                        "ratelimit-policy",
                                        sizeof("RateLimit-Policy") - 1);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value = limit->policy;

    h = ngx_http_limit_redis_add_header(r, "RateLimit", "ratelimit",
                                        sizeof("RateLimit") - 1);
    if (h == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, sizeof("\"\";r=;t=") - 1
                             + limit->zone->name.len + 2 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h->value.data = p;
    h->value.len = ngx_sprintf(p, "\"%V\";r=%L;t=%L", &limit->zone->name,
                               z->remaining, mg_gcra_seconds(z->after))
                   - p;

    if (d->outcome != MG_GCRA_REJECTED) {
        return NGX_OK;
    }

    h = ngx_http_limit_redis_add_header(r, "Retry-After", "retry-after",
                                        sizeof("Retry-After") - 1);
    if (h == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%L",
                               ngx_max(mg_gcra_seconds(d->retry), 1))
                   - p;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_limit_redis_add_header(ngx_http_request_t *r, char *name,
    char *lowcase, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.len = len;
    h->key.data = (u_char *) name;
    h->lowcase_key = (u_char *) lowcase;

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


/* while the request waits, a client that goes away is noticed */

static ngx_int_t
ngx_http_limit_redis_wait(ngx_http_request_t *r,
    ngx_http_event_handler_pt handler)
{
    if (r->connection->read->ready) {
        ngx_post_event(r->connection->read, &ngx_posted_events);

    } else if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = handler;

    return NGX_OK;
}


static void
ngx_http_limit_redis_delay(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "limit_redis delay");

    wev = r->connection->write;

    /* a write event before the timer: wait on */

    if (wev->delayed) {

        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


/*
 * A request's context outlives internal redirects in a pool cleanup (the
 * base module keeps it), and comes from the worker's free list: a few
 * hundred bytes more from the request's pool would often make it take a
 * block more from the heap.
 */

static ngx_http_limit_redis_ctx_t *
ngx_http_limit_redis_new_ctx(ngx_http_request_t *r)
{
    u_char                            *p;
    ngx_http_limit_redis_ctx_t        *ctx;
    ngx_http_limit_redis_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_limit_redis_module);

    ctx = lmcf->free;

    if (ctx) {
        lmcf->free = ctx->next;
        lmcf->nfree--;

    } else {
        ctx = ngx_alloc(lmcf->ctx_size, r->connection->log);
        if (ctx == NULL) {
            return NULL;
        }
    }

    if (ngx_http_meshgate_keep_ctx(r, &ngx_http_limit_redis_module, ctx,
                                   ngx_http_limit_redis_cleanup)
        != NGX_OK)
    {
        ngx_free(ctx);
        return NULL;
    }

    /* the arrays, for the most zones a location has, all 8-aligned */

    p = (u_char *) ctx + sizeof(ngx_http_limit_redis_ctx_t);

    ctx->zones = (mg_gcra_zone_t *) p;
    p += lmcf->max_zones * sizeof(mg_gcra_zone_t);

    ctx->limits = (ngx_http_limit_redis_limit_t **) p;
    p += lmcf->max_zones * sizeof(ngx_http_limit_redis_limit_t *);

    ctx->keys = (ngx_str_t *) p;

    return ctx;
}


static void
ngx_http_limit_redis_cleanup(void *data)
{
    ngx_http_limit_redis_ctx_t *ctx = data;

    ngx_http_limit_redis_main_conf_t  *lmcf;

    if (ctx->batch) {
        ngx_http_limit_redis_leave(ctx);
    }

    lmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_limit_redis_module);

    if (lmcf->nfree == NGX_HTTP_LIMIT_REDIS_FREE_CTXS) {
        ngx_free(ctx);
        return;
    }

    ctx->next = lmcf->free;
    lmcf->free = ctx;
    lmcf->nfree++;
}


static ngx_int_t
ngx_http_limit_redis_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_limit_redis_ctx_t  *ctx;

    ctx = ngx_http_meshgate_get_ctx(r->main, &ngx_http_limit_redis_module);

    if (ctx == NULL || ctx->status == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->len = ngx_http_limit_redis_statuses[ctx->status - 1].len;
    v->data = ngx_http_limit_redis_statuses[ctx->status - 1].data;

    return NGX_OK;
}


void
ngx_http_limit_redis_init_ctxs(ngx_http_limit_redis_main_conf_t *lmcf)
{
    lmcf->ctx_size = sizeof(ngx_http_limit_redis_ctx_t)
                     + lmcf->max_zones
                       * (sizeof(mg_gcra_zone_t)
                          + sizeof(ngx_http_limit_redis_limit_t *)
                          + sizeof(ngx_str_t));
}


ngx_int_t
ngx_http_limit_redis_add_variables(ngx_conf_t *cf)
{
    return ngx_http_meshgate_register_variables(cf, ngx_http_limit_redis_vars);
}
