
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: counting.  A main request is counted in the LOG phase, in the
 * location it ends in: requests, duration, bytes and its upstream attempts.
 * A subrequest's upstream attempts are counted when the main request's
 * pool goes away, since the LOG phase does not run for subrequests.
 * Outcomes that other modules report are counted as they come.
 */


#include "ngx_http_metrics_module.h"


#define ngx_http_metrics_add(s, n)                                           \
    (void) ngx_atomic_fetch_add(&(s)->value, (ngx_atomic_int_t) (n))


static void ngx_http_metrics_count_request(ngx_http_request_t *r,
    ngx_http_metrics_loc_conf_t *mlcf, ngx_http_metrics_zone_t *zone);
static void ngx_http_metrics_last_route(ngx_http_metrics_cache_t *cache,
    ngx_str_t *value);
static ngx_http_metrics_series_t *ngx_http_metrics_requests(
    ngx_http_request_t *r, ngx_http_metrics_cache_t *cache,
    ngx_http_metrics_zone_t *zone, ngx_str_t *route, ngx_uint_t status);
static ngx_http_metrics_series_t *ngx_http_metrics_route_series(
    ngx_http_request_t *r, ngx_http_metrics_loc_conf_t *mlcf,
    ngx_http_metrics_zone_t *zone, ngx_str_t *route,
    ngx_http_metrics_series_t **cached, ngx_uint_t family);
static void ngx_http_metrics_count_upstreams(ngx_http_request_t *r,
    ngx_http_metrics_loc_conf_t *mlcf, ngx_http_metrics_zone_t *zone);
static void ngx_http_metrics_count_attempt(ngx_http_request_t *r,
    ngx_http_metrics_loc_conf_t *mlcf, ngx_http_metrics_zone_t *zone,
    ngx_http_upstream_state_t *state, ngx_http_upstream_t *u);
static void ngx_http_metrics_find_attempt(ngx_http_request_t *r,
    ngx_http_metrics_loc_conf_t *mlcf, ngx_http_metrics_zone_t *zone,
    ngx_http_upstream_state_t *state, ngx_http_upstream_t *u,
    ngx_uint_t failed, ngx_http_metrics_ucached_t *uc);
static u_char *ngx_http_metrics_upstream_label(u_char *p,
    ngx_http_upstream_t *u);
static ngx_int_t ngx_http_metrics_route(ngx_http_request_t *r,
    ngx_http_metrics_loc_conf_t *mlcf, u_char *buf, ngx_str_t *route);
static ngx_int_t ngx_http_metrics_header_filter(ngx_http_request_t *r);
static void ngx_http_metrics_subrequest_done(void *data);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_metrics_log_handler(ngx_http_request_t *r)
{
    ngx_http_metrics_zone_t      *zone;
    ngx_http_metrics_loc_conf_t  *mlcf;

    /* with log_subrequest on: subrequests have their own way */

    if (r != r->main) {
        return NGX_OK;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_metrics_module);

    if (mlcf->shm_zone == NULL) {
        return NGX_OK;
    }

    zone = mlcf->shm_zone->data;

    ngx_http_metrics_count_request(r, mlcf, zone);

    if (r->upstream_states && r->upstream_states->nelts) {
        ngx_http_metrics_count_upstreams(r, mlcf, zone);
    }

    return NGX_OK;
}


static void
ngx_http_metrics_count_request(ngx_http_request_t *r,
    ngx_http_metrics_loc_conf_t *mlcf, ngx_http_metrics_zone_t *zone)
{
    ngx_str_t                   route, value;
    ngx_time_t                 *tp;
    ngx_uint_t                  status;
    ngx_msec_int_t              ms;
    ngx_http_metrics_cache_t   *cache;
    ngx_http_metrics_series_t  *s;

    /* as $status and $request_time */

    if (r->err_status) {
        status = r->err_status;

    } else if (r->headers_out.status) {
        status = r->headers_out.status;

    } else if (r->http_version == NGX_HTTP_VERSION_9) {
        status = 9;

    } else {
        status = 0;
    }

    if (status > 999) {
        status = 999;
    }

    tp = ngx_timeofday();

    ms = (ngx_msec_int_t)
             ((tp->sec - r->start_sec) * 1000 + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    cache = mlcf->cache;

    if (mlcf->route_label.data) {
        route = mlcf->route_label;

    } else {
        if (ngx_http_complex_value(r, mlcf->route, &value) != NGX_OK) {
            return;
        }

        ngx_http_metrics_last_route(cache, &value);
        route = cache->last->label;
    }

    s = ngx_http_metrics_requests(r, cache, zone, &route, status);
    ngx_http_metrics_add(s, 1);

    s = ngx_http_metrics_route_series(r, mlcf, zone, &route, &cache->duration,
                                      NGX_HTTP_METRICS_DURATION);
    ngx_http_metrics_observe(s, (uint64_t) ms);

    s = ngx_http_metrics_route_series(r, mlcf, zone, &route,
                                      &cache->request_bytes,
                                      NGX_HTTP_METRICS_REQUEST_BYTES);
    ngx_http_metrics_add(s, r->request_length);

    s = ngx_http_metrics_route_series(r, mlcf, zone, &route,
                                      &cache->response_bytes,
                                      NGX_HTTP_METRICS_RESPONSE_BYTES);
    ngx_http_metrics_add(s, r->connection->sent);
}


/*
 * A route with variables keeps the series of its last value: requests of
 * one route in a row are counted as fast as with a route without them.
 */

static void
ngx_http_metrics_last_route(ngx_http_metrics_cache_t *cache,
    ngx_str_t *value)
{
    size_t                          len;
    ngx_http_metrics_last_route_t  *last;

    last = cache->last;
    len = ngx_min(value->len, NGX_HTTP_METRICS_VALUE_LEN);

    if (last->label.len
        && last->len == len
        && ngx_memcmp(last->value, value->data, len) == 0)
    {
        return;
    }

    /* another route: the series found for the last one are not its */

    cache->duration = NULL;
    cache->request_bytes = NULL;
    cache->response_bytes = NULL;
    ngx_memzero(cache->requests, sizeof(cache->requests));

    ngx_memcpy(last->value, value->data, len);
    last->len = len;

    last->label.data = last->text;
    last->label.len = ngx_http_metrics_label(last->text, "route",
                                             value->data, len)
                      - last->text;
}


/*
 * requests_total by method and status: the location keeps the series of
 * its route in a small direct-mapped cache.  Methods nginx does not know
 * are counted as OTHER, so that clients cannot make up series.
 */

static ngx_http_metrics_series_t *
ngx_http_metrics_requests(ngx_http_request_t *r,
    ngx_http_metrics_cache_t *cache, ngx_http_metrics_zone_t *zone,
    ngx_str_t *route, ngx_uint_t status)
{
    u_char                     *p, buf[NGX_HTTP_METRICS_LABELS_LEN];
    ngx_str_t                  *method;
    ngx_uint_t                  key;
    ngx_http_metrics_cached_t  *c;
    ngx_http_metrics_series_t  *s;

    static ngx_str_t  other = ngx_string("OTHER");

    key = (r->method << 10) | status;

    c = &cache->requests[((uint32_t) key * 0x9e3779b1) >> 28];

    if (c->key == key) {
        return c->series;
    }

    if (r->method == NGX_HTTP_UNKNOWN || r->method_name.len == 0) {
        method = &other;

    } else {
        method = &r->method_name;
    }

    p = ngx_cpymem(buf, route->data, route->len);
    *p++ = ',';
    p = ngx_http_metrics_label(p, "method", method->data, method->len);
    p = ngx_sprintf(p, ",code=\"%03ui\"", status);

    s = ngx_http_metrics_series(zone, NGX_HTTP_METRICS_REQUESTS, buf,
                                p - buf, NULL, r->connection->log);

    if (!s->overflow) {
        c->key = key;
        c->series = s;
    }

    return s;
}


static ngx_http_metrics_series_t *
ngx_http_metrics_route_series(ngx_http_request_t *r,
    ngx_http_metrics_loc_conf_t *mlcf, ngx_http_metrics_zone_t *zone,
    ngx_str_t *route, ngx_http_metrics_series_t **cached, ngx_uint_t family)
{
    ngx_http_metrics_series_t  *s;

    if (*cached) {
        return *cached;
    }

    s = ngx_http_metrics_series(zone, family, route->data, route->len,
                                ngx_http_metrics_families[family].histogram
                                ? mlcf->buckets : NULL,
                                r->connection->log);

    if (!s->overflow) {
        *cached = s;
    }

    return s;
}


/*
 * Each upstream attempt ($upstream_addr lists them) is counted with its
 * peer.  An internal redirect to another proxied location starts a new
 * group of attempts ("a, b : c" in $upstream_addr); only the last group's
 * upstream block is still known, the earlier groups' upstream is "".
 */

static void
ngx_http_metrics_count_upstreams(ngx_http_request_t *r,
    ngx_http_metrics_loc_conf_t *mlcf, ngx_http_metrics_zone_t *zone)
{
    ngx_uint_t                  i, n, last;
    ngx_http_upstream_state_t  *state;

    state = r->upstream_states->elts;
    n = r->upstream_states->nelts;

    for (last = n; last > 0 && state[last - 1].peer; last--) {
        /* void */
    }

    for (i = 0; i < n; i++) {

        if (state[i].peer == NULL) {
            continue;
        }

        ngx_http_metrics_count_attempt(r, mlcf, zone, &state[i],
                                       i >= last ? r->upstream : NULL);
    }
}


static void
ngx_http_metrics_count_attempt(ngx_http_request_t *r,
    ngx_http_metrics_loc_conf_t *mlcf, ngx_http_metrics_zone_t *zone,
    ngx_http_upstream_state_t *state, ngx_http_upstream_t *u)
{
    ngx_uint_t                   i, failed;
    ngx_http_metrics_cache_t    *cache;
    ngx_http_metrics_ucached_t  *uc, tmp;

    /*
     * A failure is an attempt that got no response header: nginx could not
     * connect, timed out, or found the header invalid ("next upstream"
     * gave it 502 or 504).  An attempt the client cut short has status 0.
     */

    failed = (state->header_time == (ngx_msec_t) -1 && state->status);

    cache = mlcf->cache;
    uc = NULL;

    /* peers of upstream blocks live as long as the configuration */

    if (u && u->upstream) {

        for (i = 0; i < NGX_HTTP_METRICS_UCACHE; i++) {
            uc = &cache->upstreams[i];

            if (uc->upstream == u->upstream
                && uc->peer == state->peer
                && uc->status == (state->status | (failed << 10)))
            {
                goto found;
            }
        }

        uc = &cache->upstreams[cache->unext++ % NGX_HTTP_METRICS_UCACHE];

    } else {
        uc = &tmp;
    }

    ngx_http_metrics_find_attempt(r, mlcf, zone, state, u, failed, uc);

found:

    ngx_http_metrics_add(uc->requests, 1);

    if (state->response_time != (ngx_msec_t) -1) {
        ngx_http_metrics_observe(uc->time, state->response_time);
    }

    if (uc->failures) {
        ngx_http_metrics_add(uc->failures, 1);
    }
}


static void
ngx_http_metrics_find_attempt(ngx_http_request_t *r,
    ngx_http_metrics_loc_conf_t *mlcf, ngx_http_metrics_zone_t *zone,
    ngx_http_upstream_state_t *state, ngx_http_upstream_t *u,
    ngx_uint_t failed, ngx_http_metrics_ucached_t *uc)
{
    u_char  *p, *peer, buf[NGX_HTTP_METRICS_LABELS_LEN];

    p = ngx_http_metrics_upstream_label(buf, u);
    *p++ = ',';
    p = ngx_http_metrics_label(p, "peer", state->peer->data,
                               state->peer->len);
    peer = p;

    uc->time = ngx_http_metrics_series(zone, NGX_HTTP_METRICS_UPSTREAM_TIME,
                                       buf, p - buf, mlcf->buckets,
                                       r->connection->log);

    p = ngx_sprintf(peer, ",code=\"%03ui\"", ngx_min(state->status, 999));

    uc->requests = ngx_http_metrics_series(zone,
                                           NGX_HTTP_METRICS_UPSTREAM_REQUESTS,
                                           buf, p - buf, NULL,
                                           r->connection->log);

    uc->failures = NULL;

    if (failed) {
        if (state->status == NGX_HTTP_GATEWAY_TIME_OUT) {
            p = ngx_cpymem(peer, ",reason=\"timeout\"",
                           sizeof(",reason=\"timeout\"") - 1);

        } else {
            p = ngx_cpymem(peer, ",reason=\"error\"",
                           sizeof(",reason=\"error\"") - 1);
        }

        uc->failures = ngx_http_metrics_series(zone,
                                          NGX_HTTP_METRICS_UPSTREAM_FAILURES,
                                          buf, p - buf, NULL,
                                          r->connection->log);
    }

    /* an overflow series is looked for again next time, and counted */

    if (uc->requests->overflow || uc->time->overflow
        || (failed && uc->failures->overflow))
    {
        uc->upstream = NULL;
        return;
    }

    uc->upstream = u ? u->upstream : NULL;
    uc->peer = state->peer;
    uc->status = state->status | (failed << 10);
}


/* upstream="name": an upstream block's name, or host:port */

static u_char *
ngx_http_metrics_upstream_label(u_char *p, ngx_http_upstream_t *u)
{
    u_char      *last, name[NGX_HTTP_METRICS_VALUE_LEN + NGX_INT_T_LEN + 1];
    in_port_t    port;
    ngx_str_t   *host;

    last = name;

    if (u && (u->upstream || u->resolved)) {

        if (u->upstream) {
            host = &u->upstream->host;
            port = u->upstream->port;

        } else {
            host = &u->resolved->host;
            port = u->resolved->no_port ? 0 : u->resolved->port;
        }

        last = ngx_cpymem(name, host->data,
                          ngx_min(host->len, NGX_HTTP_METRICS_VALUE_LEN));

        if (port) {
            last = ngx_sprintf(last, ":%d", (int) port);
        }
    }

    return ngx_http_metrics_label(p, "upstream", name, last - name);
}


/*
 * The route of a request in a location whose metrics_route has variables,
 * as route="value", into buf.
 */

static ngx_int_t
ngx_http_metrics_route(ngx_http_request_t *r,
    ngx_http_metrics_loc_conf_t *mlcf, u_char *buf, ngx_str_t *route)
{
    ngx_str_t  value;

    if (ngx_http_complex_value(r, mlcf->route, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    route->data = buf;
    route->len = ngx_http_metrics_label(buf, "route", value.data, value.len)
                 - buf;

    return NGX_OK;
}


/*
 * name="value": the value cut to NGX_HTTP_METRICS_VALUE_LEN bytes and
 * escaped; p has room for MG_PROM_ESCAPED_LEN of that and the name.
 */

u_char *
ngx_http_metrics_label(u_char *p, const char *name, u_char *value,
    size_t len)
{
    while (*name) {
        *p++ = *name++;
    }

    *p++ = '=';
    *p++ = '"';

    p += mg_prom_escape(p, value, ngx_min(len, NGX_HTTP_METRICS_VALUE_LEN));

    *p++ = '"';

    return p;
}


/*
 * The collector of outcomes that the suite's modules report: counted in the
 * zone and under the route of the main request, whatever subrequest
 * reports.
 */

void
ngx_http_metrics_report(ngx_http_request_t *r, ngx_uint_t source,
    ngx_str_t *name, ngx_str_t *outcome)
{
    u_char                       *p, buf[NGX_HTTP_METRICS_LABELS_LEN];
    ngx_str_t                     route;
    ngx_uint_t                    family;
    ngx_http_request_t           *mr;
    ngx_http_metrics_series_t    *s;
    ngx_http_metrics_loc_conf_t  *mlcf;

    mr = r->main;

    mlcf = ngx_http_get_module_loc_conf(mr, ngx_http_metrics_module);

    if (mlcf->shm_zone == NULL) {
        return;
    }

    p = buf;

    if (source != NGX_HTTP_MESHGATE_LIMIT_REDIS) {

        if (mlcf->route_label.data) {
            p = ngx_cpymem(p, mlcf->route_label.data, mlcf->route_label.len);

        } else {
            if (ngx_http_metrics_route(mr, mlcf, p, &route) != NGX_OK) {
                return;
            }

            p += route.len;
        }

        *p++ = ',';
    }

    switch (source) {

    case NGX_HTTP_MESHGATE_AUTH_JWT:
        family = NGX_HTTP_METRICS_AUTH_JWT;
        p = ngx_http_metrics_label(p, "result", outcome->data, outcome->len);
        break;

    case NGX_HTTP_MESHGATE_LIMIT_REDIS:
        family = NGX_HTTP_METRICS_LIMIT_REDIS;
        p = ngx_http_metrics_label(p, "zone", name->data, name->len);
        *p++ = ',';
        p = ngx_http_metrics_label(p, "outcome", outcome->data,
                                   outcome->len);
        break;

    case NGX_HTTP_MESHGATE_AGGREGATE:
        family = NGX_HTTP_METRICS_AGGREGATE;
        p = ngx_http_metrics_label(p, "part", name->data, name->len);
        *p++ = ',';
        p = ngx_http_metrics_label(p, "outcome", outcome->data,
                                   outcome->len);
        break;

    default:
        return;
    }

    s = ngx_http_metrics_series(mlcf->shm_zone->data, family, buf, p - buf,
                                NULL, r->connection->log);

    ngx_http_metrics_add(s, 1);
}


/*
 * Subrequests (aggregate parts, auth_request, mirror, key requests) have
 * no LOG phase of their own: one that went to an upstream is remembered
 * when its response header passes, and counted when the pool it shares
 * with the main request is destroyed, after every attempt has ended.
 */

static ngx_int_t
ngx_http_metrics_header_filter(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_metrics_loc_conf_t  *mlcf;

    if (r == r->main
        || r->upstream_states == NULL
        || r->upstream_states->nelts == 0)
    {
        return ngx_http_next_header_filter(r);
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_metrics_module);

    if (mlcf->shm_zone) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_metrics_subrequest_done;
        cln->data = r;
    }

    return ngx_http_next_header_filter(r);
}


static void
ngx_http_metrics_subrequest_done(void *data)
{
    ngx_http_request_t *r = data;

    ngx_http_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_metrics_module);

    if (mlcf->shm_zone == NULL) {
        return;
    }

    ngx_http_metrics_count_upstreams(r, mlcf, mlcf->shm_zone->data);
}


ngx_int_t
ngx_http_metrics_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_metrics_header_filter;

    return NGX_OK;
}
