
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: metrics_export, the Prometheus text exposition (0.0.4) of a
 * metrics zone, then nginx's connection figures, the zone's own state and
 * what the suite's other modules write (ngx_http_meshgate_add_exporter).
 */


#include "ngx_http_metrics_module.h"


#define NGX_HTTP_METRICS_BUF_SIZE  16384


typedef struct {
    ngx_http_request_t          *request;
    ngx_chain_t                **ll;
    ngx_buf_t                   *b;
} ngx_http_metrics_out_t;


static ngx_int_t ngx_http_metrics_write_family(ngx_http_metrics_out_t *out,
    ngx_http_metrics_zone_t *zone, ngx_uint_t family);
static ngx_int_t ngx_http_metrics_write_histogram(
    ngx_http_metrics_out_t *out, ngx_str_t *name,
    ngx_http_metrics_series_t *s);
static ngx_int_t ngx_http_metrics_write_nginx(ngx_http_metrics_out_t *out);
static ngx_int_t ngx_http_metrics_write_zone(ngx_http_metrics_out_t *out,
    ngx_http_metrics_zone_t *zone);
static ngx_int_t ngx_http_metrics_write_value(ngx_http_metrics_out_t *out,
    ngx_str_t *name, ngx_str_t *help, const char *type, u_char *label,
    size_t len, ngx_atomic_uint_t value);
static ngx_int_t ngx_http_metrics_write_header(ngx_http_metrics_out_t *out,
    ngx_str_t *name, ngx_str_t *help, const char *type);
static u_char *ngx_http_metrics_reserve(ngx_http_metrics_out_t *out,
    size_t size);


/* name="__overflow__", the label of a family's overflow series */
#define ngx_http_metrics_overflow_label(name)                                \
    name "=\"" NGX_HTTP_METRICS_OVERFLOW "\""


ngx_http_metrics_family_t  ngx_http_metrics_families[] = {

    { ngx_string("meshgate_http_requests_total"),
      ngx_string("Client requests by route, method and status code."),
      0,
      ngx_string(ngx_http_metrics_overflow_label("route")
                 ngx_http_metrics_overflow_label(",method")
                 ngx_http_metrics_overflow_label(",code")) },

    { ngx_string("meshgate_http_request_duration_seconds"),
      ngx_string("Time from the first byte of a client request to its "
                 "logging, by route."),
      1,
      ngx_string(ngx_http_metrics_overflow_label("route")) },

    { ngx_string("meshgate_http_request_bytes_total"),
      ngx_string("Bytes of client requests (request line, header, body), "
                 "by route."),
      0,
      ngx_string(ngx_http_metrics_overflow_label("route")) },

    { ngx_string("meshgate_http_response_bytes_total"),
      ngx_string("Bytes sent to clients (header and body), by route."),
      0,
      ngx_string(ngx_http_metrics_overflow_label("route")) },

    { ngx_string("meshgate_upstream_requests_total"),
      ngx_string("Attempts to get a response from an upstream peer, by "
                 "status code (502 or 504 when no response came)."),
      0,
      ngx_string(ngx_http_metrics_overflow_label("upstream")
                 ngx_http_metrics_overflow_label(",peer")
                 ngx_http_metrics_overflow_label(",code")) },

    { ngx_string("meshgate_upstream_response_time_seconds"),
      ngx_string("Time of upstream attempts, from connecting to the end "
                 "of the response."),
      1,
      ngx_string(ngx_http_metrics_overflow_label("upstream")
                 ngx_http_metrics_overflow_label(",peer")) },

    { ngx_string("meshgate_upstream_failures_total"),
      ngx_string("Upstream attempts that got no valid response header: "
                 "errors and timeouts."),
      0,
      ngx_string(ngx_http_metrics_overflow_label("upstream")
                 ngx_http_metrics_overflow_label(",peer")
                 ngx_http_metrics_overflow_label(",reason")) },

    { ngx_string("meshgate_auth_jwt_results_total"),
      ngx_string("auth_jwt results by route: ok, missing, invalid, "
                 "forbidden, error."),
      0,
      ngx_string(ngx_http_metrics_overflow_label("route")
                 ngx_http_metrics_overflow_label(",result")) },

    { ngx_string("meshgate_limit_redis_outcomes_total"),
      ngx_string("limit_redis verdicts by zone."),
      0,
      ngx_string(ngx_http_metrics_overflow_label("zone")
                 ngx_http_metrics_overflow_label(",outcome")) },

    { ngx_string("meshgate_aggregate_parts_total"),
      ngx_string("aggregate part outcomes by route and part."),
      0,
      ngx_string(ngx_http_metrics_overflow_label("route")
                 ngx_http_metrics_overflow_label(",part")
                 ngx_http_metrics_overflow_label(",outcome")) }
};


ngx_int_t
ngx_http_metrics_export_handler(ngx_http_request_t *r)
{
    off_t                          size;
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_chain_t                   *out, *cl, **ll;
    ngx_array_t                   *exporters;
    ngx_http_metrics_out_t         o;
    ngx_http_metrics_zone_t       *zone;
    ngx_http_metrics_loc_conf_t   *mlcf;
    ngx_http_meshgate_exporter_t  *e;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_metrics_module);
    zone = mlcf->export->data;

    out = NULL;

    o.request = r;
    o.ll = &out;
    o.b = NULL;

    for (i = 0; i < NGX_HTTP_METRICS_NFAMILIES; i++) {
        if (ngx_http_metrics_write_family(&o, zone, i) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_metrics_write_nginx(&o) != NGX_OK
        || ngx_http_metrics_write_zone(&o, zone) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    exporters = ngx_http_meshgate_exporters(r);
    e = exporters->elts;

    for (i = 0; i < exporters->nelts; i++) {

        /* what follows goes after what the writer adds */
        o.b = NULL;

        ll = o.ll;

        if (e[i].handler(r, &ll, e[i].data) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "metrics_export: a metrics writer failed");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        o.ll = ll;
    }

    size = 0;

    for (cl = out; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);

        if (cl->next == NULL) {
            cl->buf->last_buf = (r == r->main) ? 1 : 0;
            cl->buf->last_in_chain = 1;
        }
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = size;

    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


/* HELP and TYPE, even with no series yet: scrapers learn the families */

static ngx_int_t
ngx_http_metrics_write_family(ngx_http_metrics_out_t *out,
    ngx_http_metrics_zone_t *zone, ngx_uint_t family)
{
    u_char                     *p;
    ngx_http_metrics_family_t  *f;
    ngx_http_metrics_series_t  *s;

    f = &ngx_http_metrics_families[family];

    if (ngx_http_metrics_write_header(out, &f->name, &f->help,
                                      f->histogram ? "histogram" : "counter")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (s = zone->sh->families[family].head; s; s = s->fnext) {

        if (s->retired) {
            continue;
        }

        if (f->histogram) {
            if (ngx_http_metrics_write_histogram(out, &f->name, s)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        p = ngx_http_metrics_reserve(out, f->name.len + s->len
                                          + NGX_ATOMIC_T_LEN + 4);
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->b->last = ngx_sprintf(p, "%V{%*s} %uA\n", &f->name,
                                   (size_t) s->len, s->labels,
                                   (ngx_atomic_uint_t) s->value);
    }

    return NGX_OK;
}


/*
 * The buckets are counted apart and summed here; _count is their total,
 * so that it always equals the +Inf bucket.
 */

static ngx_int_t
ngx_http_metrics_write_histogram(ngx_http_metrics_out_t *out,
    ngx_str_t *name, ngx_http_metrics_series_t *s)
{
    u_char             *p, le[MG_PROM_SECONDS_LEN];
    size_t              len;
    ngx_uint_t          i;
    ngx_atomic_uint_t   total, sum;

    total = 0;

    for (i = 0; i <= s->nbounds; i++) {

        total += s->counts[i];

        p = ngx_http_metrics_reserve(out, name->len + s->len
                                          + MG_PROM_SECONDS_LEN
                                          + NGX_ATOMIC_T_LEN + 32);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (i < s->nbounds) {
            len = mg_prom_format_seconds(le, s->bounds[i]);

        } else {
            len = sizeof("+Inf") - 1;
            ngx_memcpy(le, "+Inf", len);
        }

        out->b->last = ngx_sprintf(p, "%V_bucket{%*s,le=\"%*s\"} %uA\n",
                                   name, (size_t) s->len, s->labels,
                                   len, le, total);
    }

    sum = s->value;

    p = ngx_http_metrics_reserve(out, 2 * (name->len + s->len)
                                      + 3 * NGX_ATOMIC_T_LEN + 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_sprintf(p, "%V_sum{%*s} %uA.%03uA\n"
                                  "%V_count{%*s} %uA\n",
                               name, (size_t) s->len, s->labels,
                               sum / 1000, sum % 1000,
                               name, (size_t) s->len, s->labels, total);

    return NGX_OK;
}


/* what stub_status tells, for all servers and workers */

static ngx_int_t
ngx_http_metrics_write_nginx(ngx_http_metrics_out_t *out)
{
#if (NGX_STAT_STUB)

    u_char  *p;

    static ngx_str_t  conn = ngx_string("meshgate_connections");
    static ngx_str_t  conn_help = ngx_string(
        "Client connections by state, as stub_status counts them.");

    static ngx_str_t  acc = ngx_string("meshgate_connections_accepted_total");
    static ngx_str_t  acc_help = ngx_string(
        "Client connections accepted.");

    static ngx_str_t  hnd = ngx_string("meshgate_connections_handled_total");
    static ngx_str_t  hnd_help = ngx_string(
        "Client connections handled (accepted unless a limit was reached).");

    static ngx_str_t  req = ngx_string("meshgate_client_requests_total");
    static ngx_str_t  req_help = ngx_string(
        "Client requests of all servers, as stub_status counts them.");

    if (ngx_http_metrics_write_header(out, &conn, &conn_help, "gauge")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_http_metrics_reserve(out, 4 * (conn.len + NGX_ATOMIC_T_LEN + 24));
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_sprintf(p,
                               "%V{state=\"active\"} %uA\n"
                               "%V{state=\"reading\"} %uA\n"
                               "%V{state=\"writing\"} %uA\n"
                               "%V{state=\"waiting\"} %uA\n",
                               &conn, *ngx_stat_active,
                               &conn, *ngx_stat_reading,
                               &conn, *ngx_stat_writing,
                               &conn, *ngx_stat_waiting);

    if (ngx_http_metrics_write_header(out, &acc, &acc_help, "counter")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_http_metrics_reserve(out, acc.len + NGX_ATOMIC_T_LEN + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_sprintf(p, "%V %uA\n", &acc, *ngx_stat_accepted);

    if (ngx_http_metrics_write_header(out, &hnd, &hnd_help, "counter")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_http_metrics_reserve(out, hnd.len + NGX_ATOMIC_T_LEN + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_sprintf(p, "%V %uA\n", &hnd, *ngx_stat_handled);

    if (ngx_http_metrics_write_header(out, &req, &req_help, "counter")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_http_metrics_reserve(out, req.len + NGX_ATOMIC_T_LEN + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_sprintf(p, "%V %uA\n", &req, *ngx_stat_requests);

#endif

    return NGX_OK;
}


/*
 * The zone's own state: how full it is, by series and by memory, and what
 * went to the overflow series.
 */

static ngx_int_t
ngx_http_metrics_write_zone(ngx_http_metrics_out_t *out,
    ngx_http_metrics_zone_t *zone)
{
    u_char            label[sizeof("zone=\"\"")
                            + MG_PROM_ESCAPED_LEN(NGX_HTTP_METRICS_VALUE_LEN)];
    size_t            len;
    ngx_str_t        *name;
    ngx_uint_t        pages;
    ngx_slab_pool_t  *shpool;

    static ngx_str_t  series = ngx_string("meshgate_metrics_series");
    static ngx_str_t  series_help = ngx_string(
        "Series the metrics zone holds, not counting the overflow series.");

    static ngx_str_t  max = ngx_string("meshgate_metrics_max_series");
    static ngx_str_t  max_help = ngx_string(
        "The most series the metrics zone may hold (max_series).");

    static ngx_str_t  size = ngx_string("meshgate_metrics_zone_size_bytes");
    static ngx_str_t  size_help = ngx_string(
        "Memory of the metrics zone its allocator hands out, in pages.");

    static ngx_str_t  used = ngx_string("meshgate_metrics_zone_used_bytes");
    static ngx_str_t  used_help = ngx_string(
        "Memory of the metrics zone in use, in whole pages (its own "
        "tables included).");

    static ngx_str_t  dropped = ngx_string(
        "meshgate_metrics_series_dropped_total");
    static ngx_str_t  dropped_help = ngx_string(
        "Observations whose series did not fit into the metrics zone, "
        "counted in their family's __overflow__ series instead.");

    name = &zone->shm_zone->shm.name;
    shpool = zone->shpool;

    len = ngx_http_metrics_label(label, "zone", name->data, name->len)
          - label;

    /* the slab allocator's own page count, read without its lock */

    pages = shpool->last - shpool->pages;

    if (ngx_http_metrics_write_value(out, &series, &series_help, "gauge",
                                     label, len, zone->sh->nseries)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (zone->max_series
        && ngx_http_metrics_write_value(out, &max, &max_help, "gauge",
                                        label, len, zone->max_series)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_metrics_write_value(out, &size, &size_help, "gauge",
                                     label, len, pages << ngx_pagesize_shift)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_metrics_write_value(out, &used, &used_help, "gauge",
                                     label, len,
                                     (pages - shpool->pfree)
                                     << ngx_pagesize_shift)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_metrics_write_value(out, &dropped, &dropped_help,
                                        "counter", label, len,
                                        zone->sh->dropped);
}


/* a family of one series: HELP, TYPE, then name{label} value */

static ngx_int_t
ngx_http_metrics_write_value(ngx_http_metrics_out_t *out, ngx_str_t *name,
    ngx_str_t *help, const char *type, u_char *label, size_t len,
    ngx_atomic_uint_t value)
{
    u_char  *p;

    if (ngx_http_metrics_write_header(out, name, help, type) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_http_metrics_reserve(out, name->len + len + NGX_ATOMIC_T_LEN + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_sprintf(p, "%V{%*s} %uA\n", name, len, label, value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_metrics_write_header(ngx_http_metrics_out_t *out, ngx_str_t *name,
    ngx_str_t *help, const char *type)
{
    u_char  *p;

    p = ngx_http_metrics_reserve(out, 2 * name->len + help->len + 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_sprintf(p, "# HELP %V %V\n# TYPE %V %s\n",
                               name, help, name, type);

    return NGX_OK;
}


/* room for size more bytes at the end of the output */

static u_char *
ngx_http_metrics_reserve(ngx_http_metrics_out_t *out, size_t size)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = out->b;

    if (b && (size_t) (b->end - b->last) >= size) {
        return b->last;
    }

    b = ngx_create_temp_buf(out->request->pool,
                            ngx_max(size, NGX_HTTP_METRICS_BUF_SIZE));
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(out->request->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    *out->ll = cl;
    out->ll = &cl->next;
    out->b = b;

    return b->last;
}
