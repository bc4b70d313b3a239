
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: active health checks of upstream groups, NGINX Plus syntax
 * (`health_check`, `match`).  What the files of the module share.
 */


#ifndef _NGX_HTTP_UPSTREAM_HC_MODULE_H_INCLUDED_
#define _NGX_HTTP_UPSTREAM_HC_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_meshgate.h"
#include "mg_http.h"


/* the first bytes of a body that "body" conditions look at */
#define NGX_HTTP_UPSTREAM_HC_BODY      (256 * 1024)

/* header fields a response may have */
#define NGX_HTTP_UPSTREAM_HC_HEADERS   100

/* how long a peer stays leased beyond its probe's timeouts */
#define NGX_HTTP_UPSTREAM_HC_SLACK     1000

/* how often a worker looks at the shared state at least */
#define NGX_HTTP_UPSTREAM_HC_TICK      1000


typedef enum {
    NGX_HTTP_UPSTREAM_HC_STATUS = 0,
    NGX_HTTP_UPSTREAM_HC_HEADER,
    NGX_HTTP_UPSTREAM_HC_BODY_TEST
} ngx_http_upstream_hc_test_e;


typedef enum {
    NGX_HTTP_UPSTREAM_HC_PRESENT = 0,     /* header Name;          */
    NGX_HTTP_UPSTREAM_HC_ABSENT,          /* header ! Name;        */
    NGX_HTTP_UPSTREAM_HC_EQUAL,           /* header Name = value;  */
    NGX_HTTP_UPSTREAM_HC_NOT_EQUAL,       /* header Name != value; */
    NGX_HTTP_UPSTREAM_HC_MATCH,           /* ~ regex               */
    NGX_HTTP_UPSTREAM_HC_NOT_MATCH        /* !~ regex              */
} ngx_http_upstream_hc_op_e;


typedef struct {
    ngx_uint_t                         low;
    ngx_uint_t                         high;
} ngx_http_upstream_hc_range_t;


/* one line of a match block */
typedef struct {
    /* ngx_http_upstream_hc_test_e, ngx_http_upstream_hc_op_e */
    ngx_uint_t                         test;
    ngx_uint_t                         op;

    /* status: the codes (or not, with "!") */
    ngx_http_upstream_hc_range_t      *ranges;
    ngx_uint_t                         nranges;
    ngx_uint_t                         negative;

    /* header */
    ngx_str_t                          name;
    ngx_str_t                          value;

    ngx_regex_t                       *regex;

    /* the line as written, for the log */
    ngx_str_t                          text;
} ngx_http_upstream_hc_cond_t;


typedef struct {
    ngx_str_t                          name;
    ngx_array_t                        conds;  /* of ..._hc_cond_t */

    unsigned                           body:1;   /* the body is tested */
} ngx_http_upstream_hc_match_t;


/*
 * The state of one peer under one health check, in the shared zone.  It
 * is found by a key (upstream, check, peer), so that a reload finds it
 * again for the peers that are still there.
 */
typedef struct {
    ngx_str_node_t                     sn;       /* sn.str.data: key */

    /* the reload that last saw the peer; older nodes are freed */
    ngx_uint_t                         generation;

    /* a probe of the peer in flight: by which worker, until when */
    ngx_pid_t                          owner;
    ngx_msec_t                         deadline;

    /* when the next probe is due (ngx_current_msec, the same clock in
     * every process) */
    ngx_msec_t                         next;

    /* consecutive results */
    ngx_uint_t                         fails;
    ngx_uint_t                         passes;

    /* results since the node was made */
    uint64_t                           npass;
    uint64_t                           nfail;

    unsigned                           healthy:1;
    unsigned                           checking:1;   /* "mandatory" */

    u_char                             key[1];
} ngx_http_upstream_hc_node_t;


typedef struct {
    ngx_rbtree_t                       rbtree;
    ngx_rbtree_node_t                  sentinel;
    ngx_uint_t                         generation;
} ngx_http_upstream_hc_shctx_t;


typedef struct ngx_http_upstream_hc_group_s  ngx_http_upstream_hc_group_t;


/* a peer of a checked group (one per address of a "server") */
typedef struct {
    ngx_str_t                          name;

    /* in the upstream's zone, once it is set up */
    ngx_http_upstream_rr_peers_t      *peers;
    ngx_http_upstream_rr_peer_t       *peer;

    /* its node under each of the group's checks */
    ngx_http_upstream_hc_node_t      **nodes;

    unsigned                           config_down:1;
    unsigned                           backup:1;

    /* an earlier peer of the group has the same name (for metrics) */
    unsigned                           duplicate:1;
} ngx_http_upstream_hc_peer_t;


typedef struct {
    ngx_http_upstream_hc_group_t      *group;
    ngx_uint_t                         index;    /* in group->checks */

    ngx_msec_t                         interval;
    ngx_msec_t                         jitter;
    ngx_uint_t                         fails;
    ngx_uint_t                         passes;
    ngx_str_t                          uri;
    in_port_t                          port;     /* 0: the peer's */
    ngx_str_t                          match_name;
    ngx_http_upstream_hc_match_t      *match;

    /* from the location's proxy settings */
    ngx_msec_t                         connect_timeout;
    ngx_msec_t                         send_timeout;
    ngx_msec_t                         read_timeout;
    size_t                             buffer_size;

    /* how long a peer is leased to a worker for one probe */
    ngx_msec_t                         lease;

    ngx_str_t                          request;
    ngx_str_t                          key;      /* the node key's prefix */

    void                             **loc_conf;
    u_char                            *file;
    ngx_uint_t                         line;

    unsigned                           mandatory:1;
    unsigned                           persistent:1;
} ngx_http_upstream_hc_check_t;


struct ngx_http_upstream_hc_group_s {
    ngx_http_upstream_srv_conf_t      *upstream;
    ngx_str_t                          name;

    ngx_array_t                        checks;   /* of ..._hc_check_t * */

    ngx_http_upstream_hc_peer_t       *peers;
    ngx_uint_t                         npeers;
};


typedef struct {
    ngx_array_t                        checks;   /* of ..._hc_check_t * */
    ngx_array_t                        matches;  /* of ..._hc_match_t * */
    ngx_array_t                        groups;   /* of ..._hc_group_t * */

    ngx_uint_t                         nnodes;

    ngx_shm_zone_t                    *shm_zone;
    ngx_slab_pool_t                   *shpool;
    ngx_http_upstream_hc_shctx_t      *sh;

    /* per worker */
    ngx_event_t                        tick;
    ngx_queue_t                        probes;
    ngx_http_upstream_hc_check_t     **due_checks;
    ngx_http_upstream_hc_peer_t      **due_peers;
} ngx_http_upstream_hc_main_conf_t;


typedef enum {
    NGX_HTTP_UPSTREAM_HC_FAIL = 0,
    NGX_HTTP_UPSTREAM_HC_PASS,
    NGX_HTTP_UPSTREAM_HC_ABORT,          /* no verdict: the worker leaves */
    NGX_HTTP_UPSTREAM_HC_RETRY           /* no verdict: local trouble */
} ngx_http_upstream_hc_result_e;


/* ngx_http_upstream_hc_match.c */
char *ngx_http_upstream_hc_match_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_upstream_hc_test(ngx_http_upstream_hc_check_t *check,
    mg_http_response_t *resp, ngx_str_t *body, u_char *reason, size_t len);

/* ngx_http_upstream_hc_zone.c */
ngx_int_t ngx_http_upstream_hc_add_zone(ngx_conf_t *cf,
    ngx_http_upstream_hc_main_conf_t *hmcf);
ngx_uint_t ngx_http_upstream_hc_take(ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_msec_t *wake);
void ngx_http_upstream_hc_done(ngx_http_upstream_hc_main_conf_t *hmcf,
    ngx_http_upstream_hc_check_t *check, ngx_http_upstream_hc_peer_t *peer,
    ngx_uint_t result, u_char *reason);

/* ngx_http_upstream_hc_probe.c */
ngx_int_t ngx_http_upstream_hc_init_probes(ngx_cycle_t *cycle,
    ngx_http_upstream_hc_main_conf_t *hmcf);
void ngx_http_upstream_hc_close_probes(
    ngx_http_upstream_hc_main_conf_t *hmcf);

/* ngx_http_upstream_hc_export.c */
ngx_int_t ngx_http_upstream_hc_export(ngx_http_request_t *r,
    ngx_chain_t ***ll, void *data);


extern ngx_module_t  ngx_http_upstream_hc_module;


#endif /* _NGX_HTTP_UPSTREAM_HC_MODULE_H_INCLUDED_ */
