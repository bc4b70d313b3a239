
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the health checks' shared state.
 *
 * One shared zone, "meshgate_health_checks", made by the module itself
 * and sized by the number of peers checked, holds a node per peer and
 * check: the consecutive results, whether the peer passes the check, when
 * it is due to be probed again, and a lease (which worker probes it, until
 * when) so that one worker at a time probes a peer.  The workers' clock,
 * ngx_current_msec, is monotonic and the same in every process.
 *
 * A peer is down, for the balancers, when it is "down" in the
 * configuration or when one of its checks does not pass it ("checking",
 * the state of a "mandatory" check before its first probe, does not).
 * The worker that changes a node sets the peer's "down" flag in the
 * upstream's zone, under the zone's mutex and the peers' write lock, so
 * the change and the flag go together and every worker's balancer
 * (round-robin, and hash, ip_hash, least_conn, random, which test the same
 * flag) skips the peer from the next request on.
 *
 * The zone outlives reloads when its size does not change.  Its nodes are
 * found again by their keys (ngx_http_upstream_hc_key()), so a peer that
 * is still configured keeps its state, and the new upstream zone (made
 * afresh on every reload) gets the "down" flags before any new worker
 * starts.  Nodes of peers no longer configured are freed one reload later:
 * until the old workers are told to leave they may still finish a probe.
 * While old and new workers run side by side, each worker brings its own
 * upstream zone in line with the nodes whenever it looks at them.
 */


#include "ngx_http_upstream_hc_module.h"


static ngx_int_t ngx_http_upstream_hc_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_upstream_hc_bind(
    ngx_http_upstream_hc_main_conf_t *hmcf, ngx_log_t *log);
static ngx_int_t ngx_http_upstream_hc_bind_peers(
    ngx_http_upstream_hc_group_t *group, ngx_log_t *log);
static ngx_http_upstream_hc_node_t *ngx_http_upstream_hc_node(
    ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_http_upstream_hc_check_t *check, ngx_http_upstream_hc_peer_t *peer);
static void ngx_http_upstream_hc_expire(
    ngx_http_upstream_hc_main_conf_t *hmcf);
static ngx_uint_t ngx_http_upstream_hc_down(
    ngx_http_upstream_hc_group_t *group, ngx_http_upstream_hc_peer_t *peer);
static void ngx_http_upstream_hc_set_down(ngx_http_upstream_hc_peer_t *peer,
    ngx_uint_t down);


static ngx_str_t  ngx_http_upstream_hc_zone_name =
    ngx_string("meshgate_health_checks");


ngx_int_t
ngx_http_upstream_hc_add_zone(ngx_conf_t *cf,
    ngx_http_upstream_hc_main_conf_t *hmcf)
{
    size_t                          size, need;
    ngx_uint_t                      i, j;
    ngx_http_upstream_hc_group_t  **groups, *group;

    groups = hmcf->groups.elts;

    for (i = 0; i < hmcf->groups.nelts; i++) {
        group = groups[i];

        for (j = 0; j < group->npeers; j++) {
            group->peers[j].nodes = ngx_pcalloc(cf->pool,
                                   group->checks.nelts
                                   * sizeof(ngx_http_upstream_hc_node_t *));
            if (group->peers[j].nodes == NULL) {
                return NGX_ERROR;
            }
        }
    }

    hmcf->due_checks = ngx_palloc(cf->pool, hmcf->nnodes
                                  * sizeof(ngx_http_upstream_hc_check_t *));
    if (hmcf->due_checks == NULL) {
        return NGX_ERROR;
    }

    hmcf->due_peers = ngx_palloc(cf->pool, hmcf->nnodes
                                 * sizeof(ngx_http_upstream_hc_peer_t *));
    if (hmcf->due_peers == NULL) {
        return NGX_ERROR;
    }

    /*
     * A node takes less than 512 bytes with its key.  Room for the nodes
     * of two configurations (the last one's are kept a reload longer),
     * twice over, in sizes that are powers of two: a reload that adds a
     * few peers finds the zone of the same size, and keeps its state.
     */

    need = 64 * 1024 + hmcf->nnodes * 2048;

    for (size = 128 * 1024; size < need; size <<= 1) {
        /* void */
    }

    hmcf->shm_zone = ngx_shared_memory_add(cf, &ngx_http_upstream_hc_zone_name,
                                           size, &ngx_http_upstream_hc_module);
    if (hmcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    hmcf->shm_zone->init = ngx_http_upstream_hc_init_zone;
    hmcf->shm_zone->data = hmcf;

    return NGX_OK;
}


/*
 * In the master, once per configuration (and in "nginx -t").  The zone
 * is added after the whole http block is parsed, so after the upstream
 * zones, which nginx sets up in the order they were added: the groups'
 * peers are in shared memory by now.
 */

static ngx_int_t
ngx_http_upstream_hc_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_upstream_hc_main_conf_t  *ohmcf = data;

    size_t                             len;
    ngx_int_t                          rc;
    ngx_slab_pool_t                   *shpool;
    ngx_http_upstream_hc_main_conf_t  *hmcf;

    hmcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    hmcf->shpool = shpool;

    if (ohmcf) {
        hmcf->sh = ohmcf->sh;

    } else if (shm_zone->shm.exists) {
        hmcf->sh = shpool->data;

    } else {
        hmcf->sh = ngx_slab_alloc(shpool,
                                  sizeof(ngx_http_upstream_hc_shctx_t));
        if (hmcf->sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = hmcf->sh;

        ngx_rbtree_init(&hmcf->sh->rbtree, &hmcf->sh->sentinel,
                        ngx_str_rbtree_insert_value);

        hmcf->sh->generation = 0;

        len = sizeof(" in health checks zone \"\"") + shm_zone->shm.name.len;

        shpool->log_ctx = ngx_slab_alloc(shpool, len);
        if (shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(shpool->log_ctx, " in health checks zone \"%V\"%Z",
                    &shm_zone->shm.name);

        shpool->log_nomem = 0;
    }

    ngx_shmtx_lock(&shpool->mutex);

    rc = ngx_http_upstream_hc_bind(hmcf, shm_zone->shm.log);

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/* the configuration's peers and nodes, and their state in the upstreams */

static ngx_int_t
ngx_http_upstream_hc_bind(ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_log_t *log)
{
    ngx_uint_t                      i, j, k;
    ngx_http_upstream_hc_peer_t    *peer;
    ngx_http_upstream_hc_node_t    *node;
    ngx_http_upstream_hc_check_t  **checks;
    ngx_http_upstream_hc_group_t  **groups, *group;

    hmcf->sh->generation++;

    groups = hmcf->groups.elts;

    for (i = 0; i < hmcf->groups.nelts; i++) {
        group = groups[i];

        if (ngx_http_upstream_hc_bind_peers(group, log) != NGX_OK) {
            return NGX_ERROR;
        }

        checks = group->checks.elts;

        for (j = 0; j < group->npeers; j++) {
            peer = &group->peers[j];

            for (k = 0; k < group->checks.nelts; k++) {
                node = ngx_http_upstream_hc_node(hmcf, checks[k], peer);

                if (node == NULL) {
                    ngx_log_error(NGX_LOG_EMERG, log, 0,
                                  "the health checks' shared zone \"%V\" "
                                  "is full",
                                  &ngx_http_upstream_hc_zone_name);
                    return NGX_ERROR;
                }

                peer->nodes[k] = node;
            }

            ngx_http_upstream_hc_set_down(peer,
                                          ngx_http_upstream_hc_down(group,
                                                                    peer));
        }
    }

    ngx_http_upstream_hc_expire(hmcf);

    return NGX_OK;
}


static ngx_int_t
ngx_http_upstream_hc_bind_peers(ngx_http_upstream_hc_group_t *group,
    ngx_log_t *log)
{
    ngx_uint_t                     i;
    ngx_http_upstream_hc_peer_t   *hp;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers, *list;

    peers = group->upstream->peer.data;

    if (peers == NULL || peers->shpool == NULL) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "health checks: upstream \"%V\" is not in shared "
                      "memory yet", &group->name);
        return NGX_ERROR;
    }

    i = 0;

    for (list = peers; list; list = list->next) {
        for (peer = list->peer; peer; peer = peer->next) {

            if (i == group->npeers) {
                goto mismatch;
            }

            hp = &group->peers[i++];

            if (hp->name.len != peer->name.len
                || ngx_strncmp(hp->name.data, peer->name.data, hp->name.len)
                   != 0)
            {
                goto mismatch;
            }

            hp->peers = list;
            hp->peer = peer;
        }
    }

    if (i == group->npeers) {
        return NGX_OK;
    }

mismatch:

    ngx_log_error(NGX_LOG_EMERG, log, 0,
                  "health checks: the peers of upstream \"%V\" in shared "
                  "memory are not those of the configuration", &group->name);
    return NGX_ERROR;
}


static ngx_http_upstream_hc_node_t *
ngx_http_upstream_hc_node(ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_http_upstream_hc_check_t *check, ngx_http_upstream_hc_peer_t *peer)
{
    u_char                       *p;
    uint32_t                      hash;
    ngx_str_t                     key;
    ngx_http_upstream_hc_node_t  *node;
    u_char                        buf[NGX_SOCKADDR_STRLEN + 512];

    key.len = check->key.len + peer->name.len;

    if (key.len <= sizeof(buf)) {
        key.data = buf;

    } else {
        key.data = ngx_alloc(key.len, ngx_cycle->log);
        if (key.data == NULL) {
            return NULL;
        }
    }

    p = ngx_cpymem(key.data, check->key.data, check->key.len);
    ngx_memcpy(p, peer->name.data, peer->name.len);

    hash = ngx_crc32_short(key.data, key.len);

    node = (ngx_http_upstream_hc_node_t *)
               ngx_str_rbtree_lookup(&hmcf->sh->rbtree, &key, hash);

    if (node == NULL) {
        node = ngx_slab_alloc_locked(hmcf->shpool,
                                 offsetof(ngx_http_upstream_hc_node_t, key)
                                 + key.len);
        if (node == NULL) {
            goto done;
        }

        ngx_memzero(node, offsetof(ngx_http_upstream_hc_node_t, key));

        ngx_memcpy(node->key, key.data, key.len);

        node->sn.node.key = hash;
        node->sn.str.data = node->key;
        node->sn.str.len = key.len;

        /* due at once; "mandatory" keeps the peer out until it passes */

        node->healthy = !check->mandatory;
        node->checking = check->mandatory;

        ngx_rbtree_insert(&hmcf->sh->rbtree, &node->sn.node);
    }

    node->generation = hmcf->sh->generation;

done:

    if (key.data != buf) {
        ngx_free(key.data);
    }

    return node;
}


static void
ngx_http_upstream_hc_expire(ngx_http_upstream_hc_main_conf_t *hmcf)
{
    ngx_rbtree_t                 *tree;
    ngx_rbtree_node_t            *n, *next;
    ngx_http_upstream_hc_node_t  *node;

    tree = &hmcf->sh->rbtree;

    if (tree->root == tree->sentinel) {
        return;
    }

    for (n = ngx_rbtree_min(tree->root, tree->sentinel); n; n = next) {
        next = ngx_rbtree_next(tree, n);

        node = (ngx_http_upstream_hc_node_t *) n;

        if (node->generation + 1 < hmcf->sh->generation) {
            ngx_rbtree_delete(tree, n);
            ngx_slab_free_locked(hmcf->shpool, node);
        }
    }
}


/*
 * In a worker's tick: brings the upstream zone in line with the nodes,
 * and leases the probes that are due.  Returns how many were leased (into
 * hmcf->due_checks and due_peers) and in *wake when to look again.
 */

ngx_uint_t
ngx_http_upstream_hc_take(ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_msec_t *wake)
{
    ngx_msec_t                      now;
    ngx_uint_t                      i, j, k, n;
    ngx_msec_int_t                  left, min;
    ngx_http_upstream_hc_peer_t    *peer;
    ngx_http_upstream_hc_node_t    *node;
    ngx_http_upstream_hc_check_t  **checks;
    ngx_http_upstream_hc_group_t  **groups, *group;

    now = ngx_current_msec;
    min = NGX_HTTP_UPSTREAM_HC_TICK;
    n = 0;

    groups = hmcf->groups.elts;

    ngx_shmtx_lock(&hmcf->shpool->mutex);

    for (i = 0; i < hmcf->groups.nelts; i++) {
        group = groups[i];
        checks = group->checks.elts;

        for (j = 0; j < group->npeers; j++) {
            peer = &group->peers[j];

            ngx_http_upstream_hc_set_down(peer,
                                          ngx_http_upstream_hc_down(group,
                                                                    peer));

            if (peer->config_down) {
                continue;
            }

            for (k = 0; k < group->checks.nelts; k++) {
                node = peer->nodes[k];

                if (node->owner) {
                    left = (ngx_msec_int_t) (node->deadline - now);

                    if (left > 0) {
                        min = ngx_min(min, left);
                        continue;
                    }

                    /* the worker that took it is gone */
                }

                left = (ngx_msec_int_t) (node->next - now);

                if (left > 0 && node->owner == 0) {
                    min = ngx_min(min, left);
                    continue;
                }

                node->owner = ngx_pid;
                node->deadline = now + checks[k]->lease;

                hmcf->due_checks[n] = checks[k];
                hmcf->due_peers[n] = peer;
                n++;
            }
        }
    }

    ngx_shmtx_unlock(&hmcf->shpool->mutex);

    *wake = (min > 0) ? (ngx_msec_t) min : 1;

    return n;
}


/* a probe's result: the node, the peer's "down" flag, and the log */

void
ngx_http_upstream_hc_done(ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_http_upstream_hc_check_t *check, ngx_http_upstream_hc_peer_t *peer,
    ngx_uint_t result, u_char *reason)
{
    ngx_msec_t                     now;
    ngx_uint_t                     before, after, was, checking, level;
    ngx_http_upstream_hc_node_t   *node;
    ngx_http_upstream_hc_group_t  *group;

    node = peer->nodes[check->index];
    group = check->group;
    now = ngx_current_msec;

    ngx_shmtx_lock(&hmcf->shpool->mutex);

    if (node->owner != ngx_pid) {

        /* the lease ran out and another worker took the peer */

        ngx_shmtx_unlock(&hmcf->shpool->mutex);
        return;
    }

    node->owner = 0;

    switch (result) {

    case NGX_HTTP_UPSTREAM_HC_ABORT:

        /* the worker leaves: the next one (of a new configuration) goes on */

        node->next = now;
        ngx_shmtx_unlock(&hmcf->shpool->mutex);
        return;

    case NGX_HTTP_UPSTREAM_HC_RETRY:
        node->next = now + check->interval;
        ngx_shmtx_unlock(&hmcf->shpool->mutex);
        return;
    }

    node->next = now + check->interval;

    if (check->jitter) {
        node->next += (ngx_msec_t) ngx_random() % (check->jitter + 1);
    }

    before = ngx_http_upstream_hc_down(group, peer);
    was = node->healthy;
    checking = node->checking;

    if (result == NGX_HTTP_UPSTREAM_HC_PASS) {
        node->npass++;
        node->passes++;
        node->fails = 0;

        if (!node->healthy
            && (node->checking || node->passes >= check->passes))
        {
            node->healthy = 1;
        }

    } else {
        node->nfail++;
        node->fails++;
        node->passes = 0;

        if (node->healthy && node->fails >= check->fails) {
            node->healthy = 0;
        }
    }

    node->checking = 0;

    after = ngx_http_upstream_hc_down(group, peer);

    ngx_http_upstream_hc_set_down(peer, after);

    ngx_shmtx_unlock(&hmcf->shpool->mutex);

    /* after the flag is set: who reads the log sees the balancers agree */

    if (node->healthy == was && !checking) {
        return;
    }

    /*
     * Warned: the peer goes down or up, or its first probe under
     * "mandatory" fails.  A check that changes its mind while another
     * check (or the configuration) keeps the peer down is only noted.
     */

    level = (after != before || (checking && !node->healthy))
            ? NGX_LOG_WARN : NGX_LOG_INFO;

    if (group->checks.nelts == 1) {
        ngx_log_error(level, ngx_cycle->log, 0,
                      "upstream \"%V\" peer %V is %s (health check: %s)",
                      &group->name, &peer->name,
                      node->healthy ? "up" : "down", reason);

    } else {
        ngx_log_error(level, ngx_cycle->log, 0,
                      "upstream \"%V\" peer %V is %s (health check "
                      "uri=%V: %s)%s", &group->name, &peer->name,
                      node->healthy ? "up" : "down", &check->uri, reason,
                      (after && node->healthy) ? ", held down by another "
                                                 "check" : "");
    }
}


static ngx_uint_t
ngx_http_upstream_hc_down(ngx_http_upstream_hc_group_t *group,
    ngx_http_upstream_hc_peer_t *peer)
{
    ngx_uint_t  i;

    if (peer->config_down) {
        return 1;
    }

    for (i = 0; i < group->checks.nelts; i++) {
        if (!peer->nodes[i]->healthy) {
            return 1;
        }
    }

    return 0;
}


/* under the zone's mutex, so that flags and nodes change together */

static void
ngx_http_upstream_hc_set_down(ngx_http_upstream_hc_peer_t *peer,
    ngx_uint_t down)
{
    if ((peer->peer->down != 0) == (down != 0)) {
        return;
    }

    ngx_http_upstream_rr_peers_wlock(peer->peers);

    peer->peer->down = down;

    ngx_http_upstream_rr_peers_unlock(peer->peers);
}
