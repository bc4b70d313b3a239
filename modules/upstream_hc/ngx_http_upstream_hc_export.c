
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the health checks' state as Prometheus metrics, written for
 * the metrics module's export location (ngx_http_meshgate_add_exporter()):
 *
 *   meshgate_upstream_peer_up{upstream,peer}          gauge, 1 when the
 *       balancers use the peer, 0 when it is down (by a check or in the
 *       configuration) or still being checked ("mandatory");
 *   meshgate_health_checks_total{upstream,peer,result}   counter of probe
 *       results, "pass" or "fail", all checks of the peer together;
 *   meshgate_upstream_peer_health_fails{upstream,peer}   gauge, the
 *       consecutive failed probes of the peer (the most of its checks).
 *
 * The counters live in the shared zone and survive reloads that keep the
 * peer.  A peer listed twice in its group is shown once.
 */


#include "ngx_http_upstream_hc_module.h"
#include "mg_prom.h"


typedef struct {
    ngx_str_t                      labels;
    ngx_uint_t                     up;
    ngx_uint_t                     fails;
    uint64_t                       npass;
    uint64_t                       nfail;
} ngx_http_upstream_hc_stats_t;


static ngx_int_t ngx_http_upstream_hc_labels(ngx_pool_t *pool,
    ngx_str_t *labels, ngx_http_upstream_hc_group_t *group,
    ngx_http_upstream_hc_peer_t *peer);
static u_char *ngx_http_upstream_hc_sample(u_char *p, char *name,
    ngx_http_upstream_hc_stats_t *st);


#define NGX_HTTP_UPSTREAM_HC_UP                                               \
    "# HELP meshgate_upstream_peer_up Whether the balancers use the peer "   \
    "(1) or skip it as down (0).\n"                                          \
    "# TYPE meshgate_upstream_peer_up gauge\n"

#define NGX_HTTP_UPSTREAM_HC_TOTAL                                            \
    "# HELP meshgate_health_checks_total Health check probes of the peer, "  \
    "by result.\n"                                                           \
    "# TYPE meshgate_health_checks_total counter\n"

#define NGX_HTTP_UPSTREAM_HC_FAILS                                            \
    "# HELP meshgate_upstream_peer_health_fails Consecutive failed health "  \
    "checks of the peer.\n"                                                  \
    "# TYPE meshgate_upstream_peer_health_fails gauge\n"

/* the longest sample line without its labels' values */
#define NGX_HTTP_UPSTREAM_HC_LINE                                             \
    (sizeof("meshgate_upstream_peer_health_fails{upstream=\"\",peer=\"\","   \
            "result=\"pass\"} \n") - 1 + NGX_INT64_LEN)


ngx_int_t
ngx_http_upstream_hc_export(ngx_http_request_t *r, ngx_chain_t ***ll,
    void *data)
{
    ngx_http_upstream_hc_main_conf_t *hmcf = data;

    u_char                         *p;
    size_t                          size;
    ngx_buf_t                      *b;
    ngx_uint_t                      i, j, k, n;
    ngx_chain_t                    *cl;
    ngx_http_upstream_hc_node_t    *node;
    ngx_http_upstream_hc_peer_t    *peer;
    ngx_http_upstream_hc_group_t  **groups, *group;
    ngx_http_upstream_hc_stats_t   *stats, *st;

    groups = hmcf->groups.elts;

    n = 0;

    for (i = 0; i < hmcf->groups.nelts; i++) {
        n += groups[i]->npeers;
    }

    stats = ngx_palloc(r->pool, n * sizeof(ngx_http_upstream_hc_stats_t));
    if (stats == NULL) {
        return NGX_ERROR;
    }

    /* each peer shown once, its labels escaped once for all its lines */

    n = 0;
    size = sizeof(NGX_HTTP_UPSTREAM_HC_UP) + sizeof(NGX_HTTP_UPSTREAM_HC_TOTAL)
           + sizeof(NGX_HTTP_UPSTREAM_HC_FAILS);

    for (i = 0; i < hmcf->groups.nelts; i++) {
        group = groups[i];

        for (j = 0; j < group->npeers; j++) {
            peer = &group->peers[j];

            if (peer->duplicate) {
                continue;
            }

            st = &stats[n++];

            if (ngx_http_upstream_hc_labels(r->pool, &st->labels, group, peer)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            /* four lines */

            size += 4 * (NGX_HTTP_UPSTREAM_HC_LINE + st->labels.len);
        }
    }

    /* a snapshot, under the lock, then the text without it */

    st = stats;

    ngx_shmtx_lock(&hmcf->shpool->mutex);

    for (i = 0; i < hmcf->groups.nelts; i++) {
        group = groups[i];

        for (j = 0; j < group->npeers; j++) {
            peer = &group->peers[j];

            if (peer->duplicate) {
                continue;
            }

            st->up = !peer->peer->down;
            st->fails = 0;
            st->npass = 0;
            st->nfail = 0;

            for (k = 0; k < group->checks.nelts; k++) {
                node = peer->nodes[k];

                st->fails = ngx_max(st->fails, node->fails);
                st->npass += node->npass;
                st->nfail += node->nfail;
            }

            st++;
        }
    }

    ngx_shmtx_unlock(&hmcf->shpool->mutex);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(b->last, NGX_HTTP_UPSTREAM_HC_UP,
                   sizeof(NGX_HTTP_UPSTREAM_HC_UP) - 1);

    for (st = stats; st < stats + n; st++) {
        p = ngx_http_upstream_hc_sample(p, "meshgate_upstream_peer_up", st);
        p = ngx_sprintf(p, "} %ui\n", st->up);
    }

    p = ngx_cpymem(p, NGX_HTTP_UPSTREAM_HC_TOTAL,
                   sizeof(NGX_HTTP_UPSTREAM_HC_TOTAL) - 1);

    for (st = stats; st < stats + n; st++) {
        p = ngx_http_upstream_hc_sample(p, "meshgate_health_checks_total", st);
        p = ngx_sprintf(p, ",result=\"pass\"} %uL\n", st->npass);

        p = ngx_http_upstream_hc_sample(p, "meshgate_health_checks_total", st);
        p = ngx_sprintf(p, ",result=\"fail\"} %uL\n", st->nfail);
    }

    p = ngx_cpymem(p, NGX_HTTP_UPSTREAM_HC_FAILS,
                   sizeof(NGX_HTTP_UPSTREAM_HC_FAILS) - 1);

    for (st = stats; st < stats + n; st++) {
        p = ngx_http_upstream_hc_sample(p,
                                        "meshgate_upstream_peer_health_fails",
                                        st);
        p = ngx_sprintf(p, "} %ui\n", st->fails);
    }

    b->last = p;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    **ll = cl;
    *ll = &cl->next;

    return NGX_OK;
}


/* {upstream="...",peer="..." without the closing brace */

static ngx_int_t
ngx_http_upstream_hc_labels(ngx_pool_t *pool, ngx_str_t *labels,
    ngx_http_upstream_hc_group_t *group, ngx_http_upstream_hc_peer_t *peer)
{
    u_char  *p;

    p = ngx_pnalloc(pool, sizeof("{upstream=\"\",peer=\"\"") - 1
                          + MG_PROM_ESCAPED_LEN(group->name.len
                                                + peer->name.len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    labels->data = p;

    p = ngx_cpymem(p, "{upstream=\"", sizeof("{upstream=\"") - 1);
    p += mg_prom_escape(p, group->name.data, group->name.len);
    p = ngx_cpymem(p, "\",peer=\"", sizeof("\",peer=\"") - 1);
    p += mg_prom_escape(p, peer->name.data, peer->name.len);
    *p++ = '"';

    labels->len = p - labels->data;

    return NGX_OK;
}


/* a sample's name and labels, up to its own labels or closing brace */

static u_char *
ngx_http_upstream_hc_sample(u_char *p, char *name,
    ngx_http_upstream_hc_stats_t *st)
{
    p = ngx_cpymem(p, name, ngx_strlen(name));

    return ngx_cpymem(p, st->labels.data, st->labels.len);
}
