
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: Prometheus metrics, the parts of the module its files share.
 *
 *   ngx_http_metrics_module.c   directives, configuration, init
 *   ngx_http_metrics_zone.c     the shared zone: series found by a hash of
 *                               their labels, created under the zone's lock
 *   ngx_http_metrics_count.c    counting: log phase, upstream attempts of
 *                               subrequests, outcomes other modules report
 *   ngx_http_metrics_export.c   metrics_export, the text exposition
 *
 * A series is one metric family with one set of label values.  Series live
 * in the zone's shared memory and are never freed while the zone lives, so
 * a pointer to one stays valid in every worker: workers keep such pointers
 * in per-location caches and count with atomic adds, without a lock.  Only
 * creating a series takes the zone's mutex.  Readers walk hash chains and
 * family lists without the lock: a series is fully written before the
 * pointer that publishes it.
 *
 * A full zone (max_series, or no memory) creates no series: what a new
 * series would count goes to its family's overflow series, whose every
 * label is "__overflow__", so that a family's total stays right.  The
 * zone reserves their memory when it is created and publishes each one
 * the first time it is needed.
 */


#ifndef _NGX_HTTP_METRICS_MODULE_H_INCLUDED_
#define _NGX_HTTP_METRICS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_meshgate.h"
#include "mg_prom.h"


/* a label value keeps at most this many bytes of what it is made of */
#define NGX_HTTP_METRICS_VALUE_LEN     256

/* route="value", the value escaped */
#define NGX_HTTP_METRICS_ROUTE_LEN                                           \
    (sizeof("route=\"\"") - 1 + MG_PROM_ESCAPED_LEN(NGX_HTTP_METRICS_VALUE_LEN))

/* the label text of a series: up to three escaped values and their names */
#define NGX_HTTP_METRICS_LABELS_LEN    2560

#define NGX_HTTP_METRICS_MAX_BOUNDS    32

/* the value of every label of an overflow series */
#define NGX_HTTP_METRICS_OVERFLOW      "__overflow__"

/* per-location caches of series, entries */
#define NGX_HTTP_METRICS_CACHE         16
#define NGX_HTTP_METRICS_UCACHE        8


/* metric families, in the order of the exposition */
typedef enum {
    NGX_HTTP_METRICS_REQUESTS = 0,          /* route, method, code */
    NGX_HTTP_METRICS_DURATION,              /* route; histogram */
    NGX_HTTP_METRICS_REQUEST_BYTES,         /* route */
    NGX_HTTP_METRICS_RESPONSE_BYTES,        /* route */
    NGX_HTTP_METRICS_UPSTREAM_REQUESTS,     /* upstream, peer, code */
    NGX_HTTP_METRICS_UPSTREAM_TIME,         /* upstream, peer; histogram */
    NGX_HTTP_METRICS_UPSTREAM_FAILURES,     /* upstream, peer, reason */
    NGX_HTTP_METRICS_AUTH_JWT,              /* route, result */
    NGX_HTTP_METRICS_LIMIT_REDIS,           /* zone, outcome */
    NGX_HTTP_METRICS_AGGREGATE,             /* route, part, outcome */
    NGX_HTTP_METRICS_NFAMILIES
} ngx_http_metrics_family_e;


typedef struct {
    ngx_str_t                        name;
    ngx_str_t                        help;
    ngx_uint_t                       histogram;
    ngx_str_t                        overflow;   /* its labels' text */
} ngx_http_metrics_family_t;


/* histogram buckets: upper bounds in milliseconds, +Inf implied */
typedef struct {
    ngx_uint_t                       nbounds;
    uint64_t                         bounds[NGX_HTTP_METRICS_MAX_BOUNDS];
} ngx_http_metrics_buckets_t;


typedef struct ngx_http_metrics_series_s  ngx_http_metrics_series_t;

struct ngx_http_metrics_series_s {
    ngx_http_metrics_series_t       *next;       /* in its hash chain */
    ngx_http_metrics_series_t       *fnext;      /* in its family */

    ngx_atomic_t                     value;      /* histogram: sum, ms */
    ngx_atomic_t                    *counts;     /* per bucket, not summed */
    uint64_t                        *bounds;
    u_char                          *labels;     /* name="value",... */

    ngx_uint_t                       generation;
    uint32_t                         hash;
    uint16_t                         len;        /* of labels */
    uint8_t                          family;
    uint8_t                          nbounds;

    /*
     * A reload changed the buckets: a new series took the place of this
     * one, which workers of the old configuration may still count.
     */
    uint8_t                          retired;

    /*
     * The family's overflow series.  Callers do not keep it in their
     * caches: each observation that goes to it is looked up again, and
     * counted in the zone's "dropped".
     */
    uint8_t                          overflow;
    uint8_t                          published;  /* overflow: in the lists */
};


typedef struct {
    ngx_http_metrics_series_t       *head;
    ngx_http_metrics_series_t       *tail;
} ngx_http_metrics_list_t;


typedef struct {
    ngx_http_metrics_series_t      **hash;
    ngx_uint_t                       mask;
    ngx_http_metrics_list_t          families[NGX_HTTP_METRICS_NFAMILIES];

    /* reserved when the zone is made, published when first needed */
    ngx_http_metrics_series_t       *overflow[NGX_HTTP_METRICS_NFAMILIES];

    ngx_atomic_t                     nseries;    /* not the overflow ones */
    ngx_atomic_t                     dropped;    /* observations overflowed */
    ngx_atomic_t                     logged;     /* the zone was full */

    /* the smallest series that did not fit; 0: none failed yet */
    size_t                           full;

    /* one more with each configuration that uses the zone */
    ngx_uint_t                       generation;
} ngx_http_metrics_shctx_t;


typedef struct {
    ngx_http_metrics_shctx_t        *sh;
    ngx_slab_pool_t                 *shpool;
    ngx_shm_zone_t                  *shm_zone;
    ngx_uint_t                       max_series; /* 0: as many as fit */
    ngx_uint_t                       generation; /* this configuration's */
} ngx_http_metrics_zone_t;


/* a series of requests_total by method and status */
typedef struct {
    ngx_uint_t                       key;        /* 0: empty */
    ngx_http_metrics_series_t       *series;
} ngx_http_metrics_cached_t;


/* the series of one upstream peer and status */
typedef struct {
    ngx_http_upstream_srv_conf_t    *upstream;
    ngx_str_t                       *peer;
    ngx_uint_t                       status;
    ngx_http_metrics_series_t       *requests;
    ngx_http_metrics_series_t       *time;
    ngx_http_metrics_series_t       *failures;
} ngx_http_metrics_ucached_t;


/* a route with variables: its last value, and that value's label */
typedef struct {
    size_t                           len;
    ngx_str_t                        label;
    u_char                           value[NGX_HTTP_METRICS_VALUE_LEN];
    u_char                           text[NGX_HTTP_METRICS_ROUTE_LEN];
} ngx_http_metrics_last_route_t;


/*
 * Per worker: each worker owns its copy of the configuration, so filling
 * a location's cache needs no locking.
 */
typedef struct {
    /* of the route: without variables, or the last value of one with */
    ngx_http_metrics_series_t       *duration;
    ngx_http_metrics_series_t       *request_bytes;
    ngx_http_metrics_series_t       *response_bytes;
    ngx_http_metrics_cached_t        requests[NGX_HTTP_METRICS_CACHE];

    ngx_http_metrics_last_route_t   *last;      /* NULL: no variables */

    /* of upstream blocks (not of resolved names, whose peers come and go) */
    ngx_http_metrics_ucached_t       upstreams[NGX_HTTP_METRICS_UCACHE];
    ngx_uint_t                       unext;
} ngx_http_metrics_cache_t;


typedef struct {
    ngx_shm_zone_t                  *shm_zone;   /* NULL: off */
    ngx_http_complex_value_t        *route;      /* NULL: not set here */
    ngx_str_t                        route_label; /* without variables */
    ngx_http_metrics_buckets_t      *buckets;
    ngx_http_metrics_cache_t        *cache;
    ngx_shm_zone_t                  *export;     /* metrics_export */
} ngx_http_metrics_loc_conf_t;


/* where a zone is used, to tell if it is never declared */
typedef struct {
    ngx_shm_zone_t                  *shm_zone;
    ngx_str_t                        directive;
    u_char                          *file;
    ngx_uint_t                       line;
} ngx_http_metrics_ref_t;


typedef struct {
    ngx_array_t                      refs;       /* ngx_http_metrics_ref_t */
    ngx_uint_t                       counting;   /* some "metrics" is on */
} ngx_http_metrics_main_conf_t;


extern ngx_http_metrics_family_t  ngx_http_metrics_families[];
extern ngx_module_t               ngx_http_metrics_module;


/* ngx_http_metrics_zone.c */
ngx_int_t ngx_http_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data);
ngx_http_metrics_series_t *ngx_http_metrics_series(
    ngx_http_metrics_zone_t *zone, ngx_uint_t family, u_char *labels,
    size_t len, ngx_http_metrics_buckets_t *buckets, ngx_log_t *log);
void ngx_http_metrics_observe(ngx_http_metrics_series_t *s, uint64_t ms);

/* ngx_http_metrics_count.c */
ngx_int_t ngx_http_metrics_log_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_metrics_filter_init(ngx_conf_t *cf);
void ngx_http_metrics_report(ngx_http_request_t *r, ngx_uint_t source,
    ngx_str_t *name, ngx_str_t *outcome);
u_char *ngx_http_metrics_label(u_char *p, const char *name, u_char *value,
    size_t len);

/* ngx_http_metrics_export.c */
ngx_int_t ngx_http_metrics_export_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_METRICS_MODULE_H_INCLUDED_ */
