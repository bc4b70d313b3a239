
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the metrics zone, its series and their hash table.
 */


#include "ngx_http_metrics_module.h"


static ngx_http_metrics_series_t *ngx_http_metrics_find(
    ngx_http_metrics_zone_t *zone, ngx_uint_t family, u_char *labels,
    size_t len, uint32_t hash, ngx_http_metrics_buckets_t *buckets,
    ngx_uint_t *stale);
static ngx_http_metrics_series_t *ngx_http_metrics_create(
    ngx_http_metrics_zone_t *zone, ngx_uint_t family, u_char *labels,
    size_t len, uint32_t hash, size_t size,
    ngx_http_metrics_buckets_t *buckets);
static size_t ngx_http_metrics_size(size_t len, ngx_uint_t nbounds);
static ngx_uint_t ngx_http_metrics_fits(ngx_http_metrics_zone_t *zone,
    size_t size);
static void ngx_http_metrics_link(ngx_http_metrics_shctx_t *sh,
    ngx_http_metrics_series_t *s);
static ngx_http_metrics_series_t *ngx_http_metrics_overflow(
    ngx_http_metrics_zone_t *zone, ngx_uint_t family,
    ngx_http_metrics_buckets_t *buckets, ngx_log_t *log);
static ngx_http_metrics_series_t *ngx_http_metrics_publish(
    ngx_http_metrics_zone_t *zone, ngx_uint_t family,
    ngx_http_metrics_buckets_t *buckets);
static ngx_int_t ngx_http_metrics_reserve_overflow(ngx_slab_pool_t *shpool,
    ngx_http_metrics_shctx_t *sh);


#define ngx_http_metrics_hash(family, labels, len)                           \
    (ngx_murmur_hash2(labels, len) ^ (uint32_t) ((family) * 0x9e3779b1))


/*
 * Finds the series of a family with these labels (their text, escaped),
 * or creates it.  When it cannot be created, the zone is full: the
 * family's overflow series is returned, which is counted and logged.
 * Never NULL.  A histogram series keeps the buckets it was created with;
 * one created by an older configuration with other buckets is replaced,
 * so that a reload that changes metrics_buckets takes effect.
 */

ngx_http_metrics_series_t *
ngx_http_metrics_series(ngx_http_metrics_zone_t *zone, ngx_uint_t family,
    u_char *labels, size_t len, ngx_http_metrics_buckets_t *buckets,
    ngx_log_t *log)
{
    size_t                      size;
    uint32_t                    hash;
    ngx_uint_t                  stale;
    ngx_slab_pool_t            *shpool;
    ngx_http_metrics_series_t  *s, *old;

    hash = ngx_http_metrics_hash(family, labels, len);

    s = ngx_http_metrics_find(zone, family, labels, len, hash, buckets,
                              &stale);

    if (s && !stale) {
        return s;
    }

    size = ngx_http_metrics_size(len, buckets ? buckets->nbounds : 0);

    /* once the zone is full, requests never wait for its lock */

    if (s == NULL && !ngx_http_metrics_fits(zone, size)) {
        return ngx_http_metrics_overflow(zone, family, buckets, log);
    }

    shpool = zone->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    /* another worker may have created it meanwhile */

    old = ngx_http_metrics_find(zone, family, labels, len, hash, buckets,
                                &stale);

    if (old && !stale) {
        ngx_shmtx_unlock(&shpool->mutex);
        return old;
    }

    s = NULL;

    if (ngx_http_metrics_fits(zone, size)) {
        s = ngx_http_metrics_create(zone, family, labels, len, hash, size,
                                    buckets);
    }

    if (s && old) {
        old->retired = 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (s) {
        return s;
    }

    /* a stale series still counts better than the overflow */

    if (old) {
        return old;
    }

    return ngx_http_metrics_overflow(zone, family, buckets, log);
}


static ngx_http_metrics_series_t *
ngx_http_metrics_find(ngx_http_metrics_zone_t *zone, ngx_uint_t family,
    u_char *labels, size_t len, uint32_t hash,
    ngx_http_metrics_buckets_t *buckets, ngx_uint_t *stale)
{
    ngx_http_metrics_series_t  *s;

    *stale = 0;

    for (s = zone->sh->hash[hash & zone->sh->mask]; s; s = s->next) {

        if (s->hash != hash
            || s->family != family
            || s->len != len
            || s->retired
            || ngx_memcmp(s->labels, labels, len) != 0)
        {
            continue;
        }

        /*
         * Two locations of one configuration may give one route other
         * buckets: the first one's stay.  The overflow series is never
         * replaced: there is no room for another.
         */

        if (buckets
            && !s->overflow
            && s->generation < zone->generation
            && (s->nbounds != buckets->nbounds
                || ngx_memcmp(s->bounds, buckets->bounds,
                              buckets->nbounds * sizeof(uint64_t))
                   != 0))
        {
            *stale = 1;
        }

        return s;
    }

    return NULL;
}


/* nbounds: 0 for a counter */

static size_t
ngx_http_metrics_size(size_t len, ngx_uint_t nbounds)
{
    size_t  size;

    size = ngx_align(sizeof(ngx_http_metrics_series_t), 8) + len;

    if (nbounds) {
        size += (nbounds + 1) * sizeof(ngx_atomic_t)
                + nbounds * sizeof(uint64_t);
    }

    return size;
}


static ngx_uint_t
ngx_http_metrics_fits(ngx_http_metrics_zone_t *zone, size_t size)
{
    ngx_http_metrics_shctx_t  *sh;

    sh = zone->sh;

    if (zone->max_series && sh->nseries >= zone->max_series) {
        return 0;
    }

    if (sh->full && size >= sh->full) {
        return 0;
    }

    return 1;
}


/* called with the zone locked */

static ngx_http_metrics_series_t *
ngx_http_metrics_create(ngx_http_metrics_zone_t *zone, ngx_uint_t family,
    u_char *labels, size_t len, uint32_t hash, size_t size,
    ngx_http_metrics_buckets_t *buckets)
{
    u_char                     *p;
    ngx_uint_t                  nbounds, i;
    ngx_http_metrics_shctx_t   *sh;
    ngx_http_metrics_series_t  *s;

    sh = zone->sh;
    nbounds = buckets ? buckets->nbounds : 0;

    s = ngx_slab_alloc_locked(zone->shpool, size);

    if (s == NULL) {
        if (sh->full == 0 || size < sh->full) {
            sh->full = size;
        }

        return NULL;
    }

    p = (u_char *) s + ngx_align(sizeof(ngx_http_metrics_series_t), 8);

    s->next = NULL;
    s->fnext = NULL;
    s->value = 0;
    s->counts = NULL;
    s->bounds = NULL;

    if (buckets) {
        s->counts = (ngx_atomic_t *) p;
        p += (nbounds + 1) * sizeof(ngx_atomic_t);

        for (i = 0; i <= nbounds; i++) {
            s->counts[i] = 0;
        }

        s->bounds = (uint64_t *) p;
        p = ngx_cpymem(p, buckets->bounds, nbounds * sizeof(uint64_t));
    }

    s->labels = p;
    ngx_memcpy(p, labels, len);

    s->generation = zone->generation;
    s->hash = hash;
    s->len = (uint16_t) len;
    s->family = (uint8_t) family;
    s->nbounds = (uint8_t) nbounds;
    s->retired = 0;
    s->overflow = 0;
    s->published = 0;

    ngx_http_metrics_link(sh, s);

    sh->nseries++;

    return s;
}


/* called with the zone locked */

static void
ngx_http_metrics_link(ngx_http_metrics_shctx_t *sh,
    ngx_http_metrics_series_t *s)
{
    ngx_http_metrics_list_t    *list;
    ngx_http_metrics_series_t **bucket;

    /* published only once written: readers take no lock */

    bucket = &sh->hash[s->hash & sh->mask];
    s->next = *bucket;

    ngx_memory_barrier();

    *bucket = s;

    list = &sh->families[s->family];

    if (list->tail) {
        list->tail->fnext = s;

    } else {
        list->head = s;
    }

    list->tail = s;
}


/*
 * The family's overflow series, for an observation whose series has no
 * room.  The zone's first overflow is logged, once for the zone's
 * lifetime (all workers, and reloads that keep the zone), or again after
 * a reload that changes max_series.
 */

static ngx_http_metrics_series_t *
ngx_http_metrics_overflow(ngx_http_metrics_zone_t *zone, ngx_uint_t family,
    ngx_http_metrics_buckets_t *buckets, ngx_log_t *log)
{
    ngx_http_metrics_shctx_t   *sh;
    ngx_http_metrics_series_t  *s;

    sh = zone->sh;

    (void) ngx_atomic_fetch_add(&sh->dropped, 1);

    s = sh->overflow[family];

    if (!s->published) {
        ngx_shmtx_lock(&zone->shpool->mutex);
        s = ngx_http_metrics_publish(zone, family, buckets);
        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    if (sh->logged == 0 && ngx_atomic_cmp_set(&sh->logged, 0, 1)) {

        if (zone->max_series && sh->nseries >= zone->max_series) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "metrics zone \"%V\" is full (max_series=%ui), "
                          "new series of %V and other families are counted "
                          "in their \"" NGX_HTTP_METRICS_OVERFLOW "\" series",
                          &zone->shm_zone->shm.name, zone->max_series,
                          &ngx_http_metrics_families[family].name);

        } else {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "metrics zone \"%V\" is full (no memory), "
                          "new series of %V and other families are counted "
                          "in their \"" NGX_HTTP_METRICS_OVERFLOW "\" series",
                          &zone->shm_zone->shm.name,
                          &ngx_http_metrics_families[family].name);
        }
    }

    return s;
}


/* called with the zone locked */

static ngx_http_metrics_series_t *
ngx_http_metrics_publish(ngx_http_metrics_zone_t *zone, ngx_uint_t family,
    ngx_http_metrics_buckets_t *buckets)
{
    ngx_uint_t                  stale;
    ngx_str_t                  *labels;
    ngx_http_metrics_shctx_t   *sh;
    ngx_http_metrics_series_t  *s, *same;

    sh = zone->sh;
    s = sh->overflow[family];

    /* another worker did it meanwhile */

    if (s->published) {
        return s;
    }

    /*
     * A series may have these labels already (metrics_route __overflow__):
     * it becomes the overflow series, so that no two series have the
     * same labels.
     */

    labels = &ngx_http_metrics_families[family].overflow;

    same = ngx_http_metrics_find(zone, family, labels->data, labels->len,
                                 s->hash, NULL, &stale);

    if (same) {
        /*
         * The reserved series stays, unpublished and never freed: a
         * worker that read its pointer before the switch below finds it
         * unpublished, locks, and is sent here again.
         */

        same->overflow = 1;
        same->published = 1;

        ngx_memory_barrier();

        sh->overflow[family] = same;

        return same;
    }

    /* the buckets of the first observation, as any series */

    if (buckets) {
        s->nbounds = (uint8_t) buckets->nbounds;
        ngx_memcpy(s->bounds, buckets->bounds,
                   buckets->nbounds * sizeof(uint64_t));
    }

    s->generation = zone->generation;

    ngx_http_metrics_link(sh, s);

    ngx_memory_barrier();

    s->published = 1;

    return s;
}


void
ngx_http_metrics_observe(ngx_http_metrics_series_t *s, uint64_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < s->nbounds; i++) {
        if (ms <= s->bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&s->counts[i], 1);
    (void) ngx_atomic_fetch_add(&s->value, ms);
}


ngx_int_t
ngx_http_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_metrics_zone_t  *ozone = data;

    size_t                     len;
    ngx_uint_t                 n;
    ngx_slab_pool_t           *shpool;
    ngx_http_metrics_zone_t   *zone;
    ngx_http_metrics_shctx_t  *sh;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload: the counters go on */

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        zone->generation = ++zone->sh->generation;

        /* another limit: if the zone fills up, it is news again */

        if (zone->max_series != ozone->max_series) {
            zone->sh->logged = 0;
        }

        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    zone->shpool = shpool;

    if (shm_zone->shm.exists) {
        zone->sh = shpool->data;
        zone->generation = zone->sh->generation;

        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_metrics_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    /* about two series per hash chain when the zone is full */

    for (n = 64; n < 1024 * 1024 && n * 1024 <= shm_zone->shm.size; n *= 2) {
        /* void */
    }

    sh->hash = ngx_slab_calloc(shpool, n * sizeof(ngx_http_metrics_series_t *));
    if (sh->hash == NULL) {
        return NGX_ERROR;
    }

    sh->mask = n - 1;
    sh->generation = 1;

    if (ngx_http_metrics_reserve_overflow(shpool, sh) != NGX_OK) {
        return NGX_ERROR;
    }

    zone->sh = sh;
    zone->generation = 1;

    shpool->data = sh;

    len = sizeof(" in metrics zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in metrics zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is this module's to tell, once in a while */

    shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * The overflow series of every family, made with the zone: they exist
 * whenever the zone is full.  A histogram has room for the most buckets a
 * configuration may give; it takes those of its first observation.
 */

static ngx_int_t
ngx_http_metrics_reserve_overflow(ngx_slab_pool_t *shpool,
    ngx_http_metrics_shctx_t *sh)
{
    u_char                     *p;
    size_t                      size;
    ngx_str_t                  *labels;
    ngx_uint_t                  family, nbounds;
    ngx_http_metrics_series_t  *s;

    for (family = 0; family < NGX_HTTP_METRICS_NFAMILIES; family++) {

        labels = &ngx_http_metrics_families[family].overflow;
        nbounds = ngx_http_metrics_families[family].histogram
                  ? NGX_HTTP_METRICS_MAX_BOUNDS : 0;

        size = ngx_http_metrics_size(labels->len, nbounds);

        s = ngx_slab_calloc(shpool, size);
        if (s == NULL) {
            return NGX_ERROR;
        }

        p = (u_char *) s + ngx_align(sizeof(ngx_http_metrics_series_t), 8);

        if (nbounds) {
            s->counts = (ngx_atomic_t *) p;
            p += (nbounds + 1) * sizeof(ngx_atomic_t);

            s->bounds = (uint64_t *) p;
            p += nbounds * sizeof(uint64_t);
        }

        s->labels = p;
        ngx_memcpy(p, labels->data, labels->len);

        s->hash = ngx_http_metrics_hash(family, labels->data, labels->len);
        s->len = (uint16_t) labels->len;
        s->family = (uint8_t) family;
        s->overflow = 1;

        sh->overflow[family] = s;
    }

    return NGX_OK;
}
