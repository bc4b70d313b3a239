
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: limit_redis's local fallback ("limit_redis_fail local").
 *
 * While Redis does not answer, a zone is enforced per nginx instance: the
 * workers share one tat per key in a shared memory zone, a red-black tree
 * of the keys with a queue from the most to the least recently used, like
 * limit_req's.  The clock is ngx_current_msec, monotonic and the same for
 * every worker.  Reading the backlogs of all zones and charging them are
 * separate steps, each under its zone's lock, so two workers racing on one
 * key may both get the last place of a burst: the fallback is approximate,
 * as limit_req is across several zones.
 */


#include "ngx_http_limit_redis_module.h"


typedef struct {
    ngx_str_node_t                  sn;         /* sn.str.data: data */
    ngx_queue_t                     queue;
    int64_t                         tat;        /* us */
    u_char                          data[1];
} ngx_http_limit_redis_node_t;


static void ngx_http_limit_redis_local_backlog(
    ngx_http_limit_redis_zone_t *zone, ngx_str_t *key, int64_t now,
    int64_t *backlog);
static ngx_int_t ngx_http_limit_redis_local_charge(
    ngx_http_limit_redis_zone_t *zone, ngx_str_t *key, int64_t now,
    int64_t interval);
static ngx_http_limit_redis_node_t *ngx_http_limit_redis_local_lookup(
    ngx_http_limit_redis_zone_t *zone, ngx_str_t *key, uint32_t hash);
static void ngx_http_limit_redis_local_expire(
    ngx_http_limit_redis_zone_t *zone, int64_t now);
static ngx_int_t ngx_http_limit_redis_local_evict(
    ngx_http_limit_redis_zone_t *zone);
static ngx_int_t ngx_http_limit_redis_local_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);


/*
 * The verdict on a request that Redis could not check, by the zones'
 * local state, charged as Redis would have been.  NGX_DECLINED: a zone of
 * the request has no local state (its location does not fail "local").
 */

ngx_int_t
ngx_http_limit_redis_local_decide(ngx_http_limit_redis_ctx_t *ctx)
{
    int64_t                       now;
    ngx_str_t                     key;
    ngx_uint_t                    i;
    ngx_http_limit_redis_zone_t  *zone;

    now = (int64_t) ngx_current_msec * 1000;

    for (i = 0; i < ctx->n; i++) {
        zone = ctx->limits[i]->zone;

        if (zone->sh == NULL) {
            return NGX_DECLINED;
        }

        key.data = ctx->keys[i].data + zone->prefix;
        key.len = ctx->keys[i].len - zone->prefix;

        ngx_http_limit_redis_local_backlog(zone, &key, now,
                                           &ctx->zones[i].backlog);
    }

    if (mg_gcra_decide(ctx->zones, ctx->n, &ctx->decision) != 0) {
        return NGX_ERROR;
    }

    if (ctx->decision.outcome == MG_GCRA_REJECTED) {
        return NGX_OK;
    }

    for (i = 0; i < ctx->n; i++) {
        zone = ctx->limits[i]->zone;

        key.data = ctx->keys[i].data + zone->prefix;
        key.len = ctx->keys[i].len - zone->prefix;

        if (ngx_http_limit_redis_local_charge(zone, &key, now,
                                              ctx->limits[i]->gcra.interval)
            == NGX_OK)
        {
            continue;
        }

        /*
         * The key goes on, unlimited by this zone: logged once per zone
         * and worker, since such keys tend to come again and again.
         */

        if (zone->unfit) {
            continue;
        }

        zone->unfit = 1;

        ngx_log_error(ctx->conf->log_level, ctx->request->connection->log, 0,
                      "limit_redis: zone \"%V\": a key of %uz bytes does "
                      "not fit into the local zone, not limited locally",
                      &zone->name, key.len);
    }

    return NGX_OK;
}


static void
ngx_http_limit_redis_local_backlog(ngx_http_limit_redis_zone_t *zone,
    ngx_str_t *key, int64_t now, int64_t *backlog)
{
    uint32_t                      hash;
    ngx_http_limit_redis_node_t  *node;

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_limit_redis_local_lookup(zone, key, hash);

    *backlog = node ? mg_gcra_backlog(node->tat, now) : 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


static ngx_int_t
ngx_http_limit_redis_local_charge(ngx_http_limit_redis_zone_t *zone,
    ngx_str_t *key, int64_t now, int64_t interval)
{
    size_t                        size, total;
    uint32_t                      hash;
    ngx_int_t                     rc;
    mg_gcra_limit_t               limit;
    ngx_http_limit_redis_node_t  *node;

    hash = ngx_crc32_short(key->data, key->len);

    limit.interval = interval;
    limit.burst = 0;
    limit.delay = 0;

    rc = NGX_OK;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_limit_redis_local_lookup(zone, key, hash);

    if (node) {
        node->tat = mg_gcra_charge(&limit, node->tat, now);
        goto done;
    }

    /* idle keys make room first */

    ngx_http_limit_redis_local_expire(zone, now);

    size = offsetof(ngx_http_limit_redis_node_t, data) + key->len;

    /* a key larger than all the pages of the zone would only empty it */

    total = (size_t) (zone->shpool->last - zone->shpool->pages)
            << ngx_pagesize_shift;

    if (size > total) {
        rc = NGX_DECLINED;
        goto done;
    }

    /*
     * Then the least recently used keys, as many as it takes: the slab
     * allocator cuts each page into chunks of one size, and a page serves
     * another size only once all its chunks are free, so one evicted key
     * may leave no room for a longer one.  Every round removes a key: the
     * loop ends, at the latest with the zone empty.  The key charged is
     * not in the zone (the lookup missed), so it is never evicted itself.
     */

    for ( ;; ) {
        node = ngx_slab_alloc_locked(zone->shpool, size);

        if (node) {
            break;
        }

        if (ngx_http_limit_redis_local_evict(zone) != NGX_OK) {
            /* even the empty zone has no room for it: fragmentation */
            rc = NGX_DECLINED;
            goto done;
        }
    }

    ngx_memcpy(node->data, key->data, key->len);

    node->sn.node.key = hash;
    node->sn.str.len = key->len;
    node->sn.str.data = node->data;
    node->tat = mg_gcra_charge(&limit, now, now);

    ngx_rbtree_insert(&zone->sh->rbtree, &node->sn.node);
    ngx_queue_insert_head(&zone->sh->queue, &node->queue);

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


static ngx_http_limit_redis_node_t *
ngx_http_limit_redis_local_lookup(ngx_http_limit_redis_zone_t *zone,
    ngx_str_t *key, uint32_t hash)
{
    ngx_str_node_t               *sn;
    ngx_http_limit_redis_node_t  *node;

    sn = ngx_str_rbtree_lookup(&zone->sh->rbtree, key, hash);

    if (sn == NULL) {
        return NULL;
    }

    node = (ngx_http_limit_redis_node_t *) sn;

    ngx_queue_remove(&node->queue);
    ngx_queue_insert_head(&zone->sh->queue, &node->queue);

    return node;
}


static void
ngx_http_limit_redis_local_expire(ngx_http_limit_redis_zone_t *zone,
    int64_t now)
{
    ngx_uint_t                    n;
    ngx_queue_t                  *q;
    ngx_http_limit_redis_node_t  *node;

    /*
     * A key whose tat has passed means the same as no key.  Two of them
     * at most go per call, which keeps the cost of a new key bounded.
     */

    for (n = 0; n < 2; n++) {

        if (ngx_queue_empty(&zone->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&zone->sh->queue);
        node = ngx_queue_data(q, ngx_http_limit_redis_node_t, queue);

        if (node->tat > now) {
            return;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&zone->sh->rbtree, &node->sn.node);
        ngx_slab_free_locked(zone->shpool, node);
    }
}


static ngx_int_t
ngx_http_limit_redis_local_evict(ngx_http_limit_redis_zone_t *zone)
{
    ngx_queue_t                  *q;
    ngx_http_limit_redis_node_t  *node;

    /* the least recently used key goes, whatever its tat */

    if (ngx_queue_empty(&zone->sh->queue)) {
        return NGX_DECLINED;
    }

    q = ngx_queue_last(&zone->sh->queue);
    node = ngx_queue_data(q, ngx_http_limit_redis_node_t, queue);

    ngx_queue_remove(q);
    ngx_rbtree_delete(&zone->sh->rbtree, &node->sn.node);
    ngx_slab_free_locked(zone->shpool, node);

    return NGX_OK;
}


ngx_int_t
ngx_http_limit_redis_local_add(ngx_conf_t *cf,
    ngx_http_limit_redis_zone_t *zone)
{
    u_char          *p;
    ngx_str_t        name;
    ngx_shm_zone_t  *shm_zone;

    /* a name of its own: limit_req zones may well have the same names */

    name.len = sizeof("limit_redis:") - 1 + zone->name.len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name.data, "limit_redis:", sizeof("limit_redis:") - 1);
    ngx_memcpy(p, zone->name.data, zone->name.len);

    shm_zone = ngx_shared_memory_add(cf, &name, zone->size,
                                     &ngx_http_limit_redis_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_limit_redis_local_init_zone;
    shm_zone->data = zone;

    zone->shm_zone = shm_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_limit_redis_local_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_limit_redis_zone_t  *ozone = data;

    size_t                        len;
    ngx_http_limit_redis_zone_t  *zone;

    zone = shm_zone->data;

    /* a reload keeps the keys: their tats stay valid on the same clock */

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool,
                              sizeof(ngx_http_limit_redis_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_str_rbtree_insert_value);

    ngx_queue_init(&zone->sh->queue);

    len = sizeof(" in limit_redis zone \"\"") + zone->name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in limit_redis zone \"%V\"%Z",
                &zone->name);

    /* a full zone is normal for a cache of keys: no "no memory" alerts */

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}
