
/*
 * meshgate: distributed rate limiting, limit_req's semantics with the
 * state in Redis (GCRA, see ngx_http_limit_redis_script.c).
 *
 * Batches.  What Redis spends on a script call is mostly per call (the
 * call itself, its TIME, GET and SET), little per request, and Redis
 * shares the CPUs with nginx.  So each worker collects the requests that
 * reach the limiter during one pass of its event loop, per redis_server,
 * into a batch, and a posted event sends the batch as one script call at
 * the end of the pass.  Redis evaluates the requests atomically and in
 * order, each with all zones of its location, exactly as if each had
 * made its own call; the reply resumes every request that is still
 * there, and a batch none of whose requests is left is cancelled.
 *
 * Phases.  A key may be built from auth_jwt's $jwt_* variables, which
 * exist only once auth_jwt has verified the token in the ACCESS phase.
 * So the module has a handler in PREACCESS, where it works as limit_req
 * does, and one in ACCESS, and exactly one of them works for a request:
 * the ACCESS one when auth_jwt checks the request, the PREACCESS one
 * otherwise.  Handlers of a phase run in the reverse order of their
 * registration and modules register in the order "config" lists them:
 * limit_redis comes before auth_jwt there, so its ACCESS handler runs
 * right after auth_jwt's (ngx_http_limit_redis_init() checks the order).
 * A request auth_jwt refuses is never counted.  The ACCESS handler never
 * returns NGX_OK, which "satisfy any" would take for a granted access; and
 * as "satisfy any" skips the rest of the ACCESS phase once auth_jwt
 * grants access, a PRECONTENT handler limits such requests then.
 *
 * Only main requests are limited, once: subrequests never are, and a
 * request keeps its verdict across internal redirects (the context lives
 * in a pool cleanup, where it survives the reset of module contexts).
 */


#include "ngx_http_limit_redis_module.h"
#include "ngx_http_auth_jwt_module.h"


#define NGX_HTTP_LIMIT_REDIS_PASSED            1
#define NGX_HTTP_LIMIT_REDIS_DELAYED           2
#define NGX_HTTP_LIMIT_REDIS_REJECTED          3
#define NGX_HTTP_LIMIT_REDIS_DELAYED_DRY_RUN   4
#define NGX_HTTP_LIMIT_REDIS_REJECTED_DRY_RUN  5
#define NGX_HTTP_LIMIT_REDIS_ERROR             6

/* the same outcomes of the local fallback: LOCAL_PASSED ... */
#define NGX_HTTP_LIMIT_REDIS_LOCAL             6

#define NGX_HTTP_LIMIT_REDIS_FAIL_OPEN         0
#define NGX_HTTP_LIMIT_REDIS_FAIL_CLOSED       1
#define NGX_HTTP_LIMIT_REDIS_FAIL_LOCAL        2

#define NGX_HTTP_LIMIT_REDIS_WAITING           1
#define NGX_HTTP_LIMIT_REDIS_REPLIED           2
#define NGX_HTTP_LIMIT_REDIS_DONE              3

#define NGX_HTTP_LIMIT_REDIS_BATCH_OPEN        0
#define NGX_HTTP_LIMIT_REDIS_BATCH_SENT        1
#define NGX_HTTP_LIMIT_REDIS_BATCH_REPLYING    2

/*
 * A batch takes at most this many requests, zone keys (unless one request
 * has more) and bytes of keys and arguments: a larger one would delay the
 * other commands on the connection, and cost Redis more time at once
 * than it saves.  A full batch waits for the end of the pass like any
 * other, while the next requests start a new one.
 */
#define NGX_HTTP_LIMIT_REDIS_BATCH_REQUESTS    128
#define NGX_HTTP_LIMIT_REDIS_BATCH_KEYS        512
#define NGX_HTTP_LIMIT_REDIS_BATCH_SIZE        (64 * 1024)

/*
 * The batches of a server that a worker may have open or in flight, each
 * about 2 KB, allocated as needed and then reused; past that, requests
 * fail as when Redis has too many commands waiting.
 */
#define NGX_HTTP_LIMIT_REDIS_BATCHES           512

/* what a bulk string costs in RESP beyond its bytes, at most */
#define NGX_HTTP_LIMIT_REDIS_BULK              (NGX_SIZE_T_LEN + 5)


typedef struct ngx_http_limit_redis_ctx_s     ngx_http_limit_redis_ctx_t;
typedef struct ngx_http_limit_redis_server_s  ngx_http_limit_redis_server_t;


typedef struct {
    ngx_array_t                         zones;  /* limit_redis_zone_t * */
    ngx_array_t                         servers;
                                            /* limit_redis_server_t * */

    /* the most zones a location has */
    ngx_uint_t                          max_zones;

    /* where a batch's command is put together, just before it is sent */
    ngx_str_t                          *keys;
    ngx_str_t                          *args;
    u_char                             *numbers;
} ngx_http_limit_redis_main_conf_t;


typedef struct {
    ngx_http_limit_redis_ctx_t         *ctx;    /* NULL: the request is gone */
    ngx_uint_t                          n;      /* its zones */
} ngx_http_limit_redis_slot_t;


typedef struct {
    ngx_http_limit_redis_server_t      *server;
    ngx_http_meshgate_redis_cmd_t      *cmd;
    ngx_event_t                         flush;
    ngx_queue_t                         queue;  /* in the server's free list */

    ngx_uint_t                          state;
    ngx_uint_t                          live;   /* requests still there */
    ngx_uint_t                          nkeys;
    size_t                              size;

    ngx_uint_t                          nslots;
    ngx_http_limit_redis_slot_t        *slots;
} ngx_http_limit_redis_batch_t;


/* a script (one per redis_server), and what each worker batches for it */

struct ngx_http_limit_redis_server_s {
    ngx_http_meshgate_redis_script_t   *script;
    ngx_http_limit_redis_main_conf_t   *lmcf;

    /* per worker */
    ngx_http_limit_redis_batch_t       *batch;  /* the one taking requests */
    ngx_queue_t                         free;
    ngx_uint_t                          nbatches;
};


typedef struct {
    ngx_array_t                         limits; /* limit_redis_limit_t */
    ngx_http_limit_redis_server_t      *server;
    ngx_uint_t                          status_code;
    ngx_uint_t                          fail;
    ngx_flag_t                          headers;
    ngx_flag_t                          dry_run;
    ngx_uint_t                          log_level;
    ngx_uint_t                          delay_log_level;

    /* where this level's first "limit_redis" is, for messages */
    u_char                             *file;
    ngx_uint_t                          line;
} ngx_http_limit_redis_conf_t;


struct ngx_http_limit_redis_ctx_s {
    ngx_http_request_t                 *request;
    ngx_http_limit_redis_conf_t        *conf;

    /* while the request waits for Redis: its batch, and its slot there */
    ngx_http_limit_redis_batch_t       *batch;
    ngx_uint_t                          slot;

    /* the zones whose key is not empty, in the order of "limit_redis" */
    ngx_uint_t                          n;
    ngx_http_limit_redis_limit_t      **limits;
    ngx_str_t                          *keys;
    mg_gcra_zone_t                     *zones;
    mg_gcra_decision_t                  decision;

    ngx_uint_t                          status;  /* 0: not limited */
    unsigned                            state:2;
    unsigned                            failed:1;
};


static ngx_int_t ngx_http_limit_redis_preaccess_handler(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_limit_redis_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_limit_redis_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_limit_redis_start(ngx_http_request_t *r,
    ngx_http_limit_redis_conf_t *lrcf);
static ngx_int_t ngx_http_limit_redis_add(ngx_http_limit_redis_ctx_t *ctx,
    size_t size);
static ngx_http_limit_redis_batch_t *ngx_http_limit_redis_new_batch(
    ngx_http_limit_redis_server_t *server);
static void ngx_http_limit_redis_flush(ngx_event_t *ev);
static void ngx_http_limit_redis_reply(void *data, ngx_int_t rc,
    redisReply *reply);
static void ngx_http_limit_redis_batch_done(
    ngx_http_limit_redis_batch_t *batch, redisReply *reply,
    ngx_str_t *reason);
static void ngx_http_limit_redis_resume(ngx_http_limit_redis_ctx_t *ctx,
    redisReply **element, ngx_str_t *reason);
static void ngx_http_limit_redis_release(ngx_http_limit_redis_batch_t *batch);
static ngx_int_t ngx_http_limit_redis_decide(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx);
static ngx_int_t ngx_http_limit_redis_local(ngx_http_limit_redis_ctx_t *ctx);
static ngx_int_t ngx_http_limit_redis_headers(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx);
static ngx_table_elt_t *ngx_http_limit_redis_add_header(
    ngx_http_request_t *r, char *name, char *lowcase, size_t len);
static ngx_int_t ngx_http_limit_redis_wait(ngx_http_request_t *r,
    ngx_http_event_handler_pt handler);
static void ngx_http_limit_redis_delay(ngx_http_request_t *r);
static void ngx_http_limit_redis_failed(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx, ngx_str_t *reason);
static void ngx_http_limit_redis_recovered(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx);
static ngx_http_limit_redis_ctx_t *ngx_http_limit_redis_get_ctx(
    ngx_http_request_t *r);
static void ngx_http_limit_redis_cleanup(void *data);

static ngx_int_t ngx_http_limit_redis_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_http_limit_redis_zone_t *ngx_http_limit_redis_find_zone(
    ngx_conf_t *cf, ngx_str_t *name);
static ngx_int_t ngx_http_limit_redis_finish(ngx_conf_t *cf,
    ngx_http_limit_redis_conf_t *conf);
static ngx_http_limit_redis_server_t *ngx_http_limit_redis_server(
    ngx_conf_t *cf, ngx_http_meshgate_redis_script_t *script);
static void *ngx_http_limit_redis_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_limit_redis_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_limit_redis_create_conf(ngx_conf_t *cf);
static char *ngx_http_limit_redis_merge_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_limit_redis_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_limit_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_limit_redis_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_limit_redis_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_limit_redis_init(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_http_limit_redis_fail_modes[] = {
    { ngx_string("open"), NGX_HTTP_LIMIT_REDIS_FAIL_OPEN },
    { ngx_string("closed"), NGX_HTTP_LIMIT_REDIS_FAIL_CLOSED },
    { ngx_string("local"), NGX_HTTP_LIMIT_REDIS_FAIL_LOCAL },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_limit_redis_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_limit_redis_commands[] = {

    { ngx_string("limit_redis_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_limit_redis_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("limit_redis"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_limit_redis,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("limit_redis_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_limit_redis_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_limit_redis_conf_t, status_code),
      NULL },

    { ngx_string("limit_redis_fail"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_limit_redis_conf_t, fail),
      &ngx_http_limit_redis_fail_modes },

    { ngx_string("limit_redis_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_limit_redis_conf_t, headers),
      NULL },

    { ngx_string("limit_redis_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_limit_redis_conf_t, dry_run),
      NULL },

    { ngx_string("limit_redis_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_limit_redis_conf_t, log_level),
      &ngx_http_limit_redis_log_levels },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_limit_redis_module_ctx = {
    ngx_http_limit_redis_add_variables,    /* preconfiguration */
    ngx_http_limit_redis_init,             /* postconfiguration */

    ngx_http_limit_redis_create_main_conf, /* create main configuration */
    ngx_http_limit_redis_init_main_conf,   /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_limit_redis_create_conf,      /* create location configuration */
    ngx_http_limit_redis_merge_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_limit_redis_module = {
    NGX_MODULE_V1,
    &ngx_http_limit_redis_module_ctx,      /* module context */
    ngx_http_limit_redis_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


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


static char  *ngx_http_limit_redis_fail_names[] = {
    "open", "closed", "local"
};


static ngx_int_t
ngx_http_limit_redis_preaccess_handler(ngx_http_request_t *r)
{
    ngx_http_limit_redis_conf_t  *lrcf;

    lrcf = ngx_http_get_module_loc_conf(r, ngx_http_limit_redis_module);

    if (lrcf->limits.nelts == 0 || ngx_http_auth_jwt_enabled(r)) {
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "limit_redis in preaccess phase");

    return ngx_http_limit_redis_handler(r);
}


/* the ACCESS and PRECONTENT handler: only after auth_jwt */

static ngx_int_t
ngx_http_limit_redis_access_handler(ngx_http_request_t *r)
{
    ngx_http_limit_redis_conf_t  *lrcf;

    lrcf = ngx_http_get_module_loc_conf(r, ngx_http_limit_redis_module);

    if (lrcf->limits.nelts == 0 || !ngx_http_auth_jwt_enabled(r)) {
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "limit_redis after auth_jwt, phase handler %ui",
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

    ctx = ngx_http_limit_redis_get_ctx(r);

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
    size_t                         size, need;
    u_char                        *p;
    ngx_str_t                      key, reason;
    ngx_uint_t                     i, n;
    ngx_pool_cleanup_t            *cln;
    ngx_http_limit_redis_ctx_t    *ctx;
    ngx_http_limit_redis_zone_t   *zone;
    ngx_http_limit_redis_limit_t  *limit;

    n = lrcf->limits.nelts;

    /* one allocation holds the context and its arrays, all 8-aligned */

    size = sizeof(ngx_http_limit_redis_ctx_t)
           + n * (sizeof(mg_gcra_zone_t)
                  + sizeof(ngx_http_limit_redis_limit_t *)
                  + sizeof(ngx_str_t));

    cln = ngx_pool_cleanup_add(r->pool, size);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = cln->data;
    p = (u_char *) ctx + sizeof(ngx_http_limit_redis_ctx_t);

    ctx->zones = (mg_gcra_zone_t *) p;
    p += n * sizeof(mg_gcra_zone_t);

    ctx->limits = (ngx_http_limit_redis_limit_t **) p;
    p += n * sizeof(ngx_http_limit_redis_limit_t *);

    ctx->keys = (ngx_str_t *) p;

    ctx->request = r;
    ctx->conf = lrcf;
    ctx->batch = NULL;
    ctx->slot = 0;
    ctx->n = 0;
    ctx->status = 0;
    ctx->state = NGX_HTTP_LIMIT_REDIS_DONE;
    ctx->failed = 0;

    cln->handler = ngx_http_limit_redis_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_limit_redis_module);

    limit = lrcf->limits.elts;

    /* what the request adds to its batch's command, roughly */

    need = NGX_HTTP_LIMIT_REDIS_BULK;

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

        need += key.len + zone->interval_arg.len + limit[i].quota_arg.len
                + 3 * NGX_HTTP_LIMIT_REDIS_BULK;

        ctx->n++;
    }

    if (ctx->n == 0) {
        return NGX_DECLINED;
    }

    if (ngx_http_limit_redis_add(ctx, need) == NGX_OK) {

        if (ngx_http_limit_redis_wait(r, ngx_http_request_empty_handler)
            != NGX_OK)
        {
            ngx_http_limit_redis_cleanup(ctx);
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


/*
 * Adds the request to the batch that takes the requests of its server; the
 * first request of a batch posts the event that sends it at the end of
 * this pass of the event loop.
 */

static ngx_int_t
ngx_http_limit_redis_add(ngx_http_limit_redis_ctx_t *ctx, size_t size)
{
    ngx_http_limit_redis_batch_t   *batch;
    ngx_http_limit_redis_server_t  *server;

    server = ctx->conf->server;
    batch = server->batch;

    if (batch
        && (batch->nslots == NGX_HTTP_LIMIT_REDIS_BATCH_REQUESTS
            || (batch->nslots
                && (batch->nkeys + ctx->n > NGX_HTTP_LIMIT_REDIS_BATCH_KEYS
                    || batch->size + size > NGX_HTTP_LIMIT_REDIS_BATCH_SIZE))))
    {
        /* full: its posted event still sends it */

        server->batch = NULL;
        batch = NULL;
    }

    if (batch == NULL) {
        batch = ngx_http_limit_redis_new_batch(server);
        if (batch == NULL) {
            return NGX_BUSY;
        }

        server->batch = batch;
    }

    batch->slots[batch->nslots].ctx = ctx;
    batch->slots[batch->nslots].n = ctx->n;

    ctx->batch = batch;
    ctx->slot = batch->nslots;

    batch->nslots++;
    batch->live++;
    batch->nkeys += ctx->n;
    batch->size += size;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "limit_redis batch %p: request %ui, %ui keys",
                   batch, ctx->slot, batch->nkeys);

    return NGX_OK;
}


static ngx_http_limit_redis_batch_t *
ngx_http_limit_redis_new_batch(ngx_http_limit_redis_server_t *server)
{
    ngx_queue_t                   *q;
    ngx_http_limit_redis_batch_t  *batch;

    if (!ngx_queue_empty(&server->free)) {
        q = ngx_queue_head(&server->free);
        ngx_queue_remove(q);

        batch = ngx_queue_data(q, ngx_http_limit_redis_batch_t, queue);

    } else {
        if (server->nbatches == NGX_HTTP_LIMIT_REDIS_BATCHES) {
            return NULL;
        }

        /* once per batch and worker: batches are reused, never freed */

        batch = ngx_pcalloc(ngx_cycle->pool,
                            sizeof(ngx_http_limit_redis_batch_t)
                            + NGX_HTTP_LIMIT_REDIS_BATCH_REQUESTS
                              * sizeof(ngx_http_limit_redis_slot_t));
        if (batch == NULL) {
            return NULL;
        }

        batch->server = server;
        batch->slots = (ngx_http_limit_redis_slot_t *) (batch + 1);

        batch->flush.handler = ngx_http_limit_redis_flush;
        batch->flush.data = batch;
        batch->flush.log = ngx_cycle->log;

        server->nbatches++;
    }

    batch->cmd = NULL;
    batch->state = NGX_HTTP_LIMIT_REDIS_BATCH_OPEN;
    batch->live = 0;
    batch->nkeys = 0;
    batch->size = 0;
    batch->nslots = 0;

    ngx_post_event(&batch->flush, &ngx_posted_events);

    return batch;
}


/* the end of the event loop's pass: the batch goes to Redis */

static void
ngx_http_limit_redis_flush(ngx_event_t *ev)
{
    ngx_int_t                          rc;
    ngx_str_t                          reason, *keys, *args;
    ngx_uint_t                         i, j, s, nkeys, nargs;
    ngx_http_limit_redis_ctx_t        *ctx;
    ngx_http_limit_redis_batch_t      *batch;
    ngx_http_limit_redis_server_t     *server;
    ngx_http_limit_redis_main_conf_t  *lmcf;

    batch = ev->data;
    server = batch->server;
    lmcf = server->lmcf;

    if (server->batch == batch) {
        server->batch = NULL;
    }

    /*
     * The requests that are gone take no part: their keys went with their
     * pools.  The others are put together, in their order.
     */

    keys = lmcf->keys;
    args = lmcf->args;
    nkeys = 0;
    nargs = 0;
    s = 0;

    for (i = 0; i < batch->nslots; i++) {
        ctx = batch->slots[i].ctx;

        if (ctx == NULL) {
            continue;
        }

        batch->slots[s] = batch->slots[i];
        ctx->slot = s;

        args[nargs].data = lmcf->numbers + s * NGX_INT_T_LEN;
        args[nargs].len = ngx_sprintf(args[nargs].data, "%ui", ctx->n)
                          - args[nargs].data;
        nargs++;
        s++;

        for (j = 0; j < ctx->n; j++) {
            keys[nkeys++] = ctx->keys[j];
            args[nargs++] = ctx->limits[j]->zone->interval_arg;
            args[nargs++] = ctx->limits[j]->quota_arg;
        }
    }

    batch->nslots = s;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "limit_redis batch %p: %ui requests, %ui keys",
                   batch, s, nkeys);

    if (s == 0) {
        ngx_http_limit_redis_release(batch);
        return;
    }

    rc = ngx_http_meshgate_redis_eval(server->script, nkeys, keys, nargs,
                                      args, ngx_http_limit_redis_reply,
                                      batch, ev->log, &batch->cmd);

    if (rc == NGX_OK) {
        batch->state = NGX_HTTP_LIMIT_REDIS_BATCH_SENT;
        return;
    }

    batch->cmd = NULL;

    switch (rc) {

    case NGX_DECLINED:
        ngx_str_set(&reason, "down");
        break;

    case NGX_BUSY:
        ngx_str_set(&reason, "too many commands waiting");
        break;

    default:
        ngx_str_set(&reason, "command not sent");
    }

    ngx_http_limit_redis_batch_done(batch, NULL, &reason);
}


/*
 * The client calls this from its own event handlers, never for a batch
 * whose requests are all gone: the last one's cleanup cancels the command.
 */

static void
ngx_http_limit_redis_reply(void *data, ngx_int_t rc, redisReply *reply)
{
    ngx_http_limit_redis_batch_t *batch = data;

    u_char      buf[128];
    ngx_str_t   reason;
    ngx_uint_t  i, n;

    batch->cmd = NULL;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "limit_redis batch %p reply: %i", batch, rc);

    if (rc == NGX_OK && reply) {

        if (reply->type == REDIS_REPLY_ERROR) {

            /* the reply is freed once this returns: log from a copy */

            reason.data = buf;
            reason.len = ngx_snprintf(buf, sizeof(buf), "error reply \"%*s\"",
                                      ngx_min(reply->len, 96), reply->str)
                         - buf;

            ngx_http_limit_redis_batch_done(batch, NULL, &reason);
            return;
        }

        n = 0;

        for (i = 0; i < batch->nslots; i++) {
            n += 1 + batch->slots[i].n;
        }

        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == n) {
            ngx_http_limit_redis_batch_done(batch, reply, NULL);
            return;
        }

        ngx_str_set(&reason, "unexpected reply");

    } else if (rc == NGX_ABORT) {
        ngx_str_set(&reason, "timed out");

    } else {
        ngx_str_set(&reason, "connection failed");
    }

    ngx_http_limit_redis_batch_done(batch, NULL, &reason);
}


/*
 * Resumes every request of the batch that is still there, with its part
 * of the reply or with the reason the batch failed.  A resumed request may
 * end, and so may others of the batch (streams of one HTTP/2 connection):
 * each is taken out of the batch before it goes on, and the batch is
 * released only once all have been seen.
 */

static void
ngx_http_limit_redis_batch_done(ngx_http_limit_redis_batch_t *batch,
    redisReply *reply, ngx_str_t *reason)
{
    ngx_uint_t                   i, e;
    ngx_http_limit_redis_ctx_t  *ctx;

    batch->state = NGX_HTTP_LIMIT_REDIS_BATCH_REPLYING;

    e = 0;

    for (i = 0; i < batch->nslots; i++) {
        ctx = batch->slots[i].ctx;

        if (ctx) {
            batch->slots[i].ctx = NULL;
            batch->live--;
            ctx->batch = NULL;

            ngx_http_limit_redis_resume(ctx,
                                        reply ? &reply->element[e] : NULL,
                                        reason);
        }

        e += 1 + batch->slots[i].n;
    }

    ngx_http_limit_redis_release(batch);
}


/* the request's verdict from its part of the reply, or its failure */

static void
ngx_http_limit_redis_resume(ngx_http_limit_redis_ctx_t *ctx,
    redisReply **element, ngx_str_t *reason)
{
    u_char               buf[128];
    ngx_int_t            rc;
    ngx_str_t            error, text;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ctx->state = NGX_HTTP_LIMIT_REDIS_REPLIED;

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "limit_redis reply, batch slot %ui", ctx->slot);

    if (element) {
        rc = ngx_http_limit_redis_read_reply(element, ctx->n, ctx->zones,
                                             &ctx->decision, &error);

        if (rc == NGX_OK) {
            ngx_http_limit_redis_recovered(r, ctx);
            goto resume;
        }

        if (rc == NGX_DECLINED) {
            text.data = buf;
            text.len = ngx_snprintf(buf, sizeof(buf), "error reply \"%*s\"",
                                    ngx_min(error.len, 96), error.data)
                       - buf;
            reason = &text;

        } else {
            reason = &error;
        }
    }

    ngx_http_limit_redis_failed(r, ctx, reason);

resume:

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    /* the phase handler runs again, sees the reply and decides */

    ngx_http_core_run_phases(r);

    /* r may be gone now, c is still safe to hand over */

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_limit_redis_release(ngx_http_limit_redis_batch_t *batch)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "limit_redis batch %p released", batch);

    ngx_queue_insert_head(&batch->server->free, &batch->queue);
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
            && ngx_http_limit_redis_local(ctx) == NGX_OK)
        {
            local = NGX_HTTP_LIMIT_REDIS_LOCAL;

        } else {
            ctx->status = NGX_HTTP_LIMIT_REDIS_ERROR;

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


static ngx_int_t
ngx_http_limit_redis_local(ngx_http_limit_redis_ctx_t *ctx)
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


/*
 * RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers)
 * describe the most restrictive zone, Retry-After comes with rejections;
 * the exact formulas are in the README (limit_redis, Headers).
 */

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
 * A failure episode starts with the first failure of a zone and ends with
 * its first good reply; each end is logged once (per worker).
 */

static void
ngx_http_limit_redis_failed(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx, ngx_str_t *reason)
{
    ngx_uint_t                    i;
    ngx_http_limit_redis_zone_t  *zone;

    ctx->failed = 1;

    for (i = 0; i < ctx->n; i++) {
        zone = ctx->limits[i]->zone;

        if (zone->failing) {
            continue;
        }

        zone->failing = 1;

        ngx_log_error(ctx->conf->log_level, r->connection->log, 0,
                      "limit_redis: zone \"%V\": redis server \"%V\" "
                      "unavailable (%V), failing %s",
                      &zone->name,
                      ngx_http_meshgate_redis_server_name(zone->server),
                      reason,
                      ngx_http_limit_redis_fail_names[ctx->conf->fail]);
    }
}


static void
ngx_http_limit_redis_recovered(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx)
{
    ngx_uint_t                    i;
    ngx_http_limit_redis_zone_t  *zone;

    for (i = 0; i < ctx->n; i++) {
        zone = ctx->limits[i]->zone;

        if (!zone->failing) {
            continue;
        }

        zone->failing = 0;

        ngx_log_error(ctx->conf->log_level, r->connection->log, 0,
                      "limit_redis: zone \"%V\": redis server \"%V\" "
                      "answers again",
                      &zone->name,
                      ngx_http_meshgate_redis_server_name(zone->server));
    }
}


static ngx_http_limit_redis_ctx_t *
ngx_http_limit_redis_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_limit_redis_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_limit_redis_module);

    if (ctx || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    /* module contexts are reset by internal redirects, cleanups are not */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_limit_redis_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_limit_redis_module);
            return ctx;
        }
    }

    return NULL;
}


static void
ngx_http_limit_redis_cleanup(void *data)
{
    ngx_http_limit_redis_ctx_t *ctx = data;

    ngx_http_limit_redis_batch_t  *batch;

    batch = ctx->batch;

    if (batch == NULL) {
        return;
    }

    /* the slot stays, empty: the reply has a part for it all the same */

    ctx->batch = NULL;
    batch->slots[ctx->slot].ctx = NULL;
    batch->live--;

    /*
     * An open batch is sent, or released, by its posted event, and one
     * that is replying is released once its loop is done.
     */

    if (batch->live == 0 && batch->state == NGX_HTTP_LIMIT_REDIS_BATCH_SENT) {
        ngx_http_meshgate_redis_cancel(batch->cmd);
        batch->cmd = NULL;
        ngx_http_limit_redis_release(batch);
    }
}


static ngx_int_t
ngx_http_limit_redis_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_limit_redis_ctx_t  *ctx;

    ctx = ngx_http_limit_redis_get_ctx(r->main);

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


static ngx_http_limit_redis_zone_t *
ngx_http_limit_redis_find_zone(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                         i;
    ngx_http_limit_redis_zone_t       *zone, **zones;
    ngx_http_limit_redis_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_limit_redis_module);

    zones = lmcf->zones.elts;

    for (i = 0; i < lmcf->zones.nelts; i++) {
        if (zones[i]->name.len == name->len
            && ngx_strncmp(zones[i]->name.data, name->data, name->len) == 0)
        {
            return zones[i];
        }
    }

    /* a reference may come before the declaration */

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_limit_redis_zone_t));
    if (zone == NULL) {
        return NULL;
    }

    zone->name = *name;
    zone->size = NGX_HTTP_LIMIT_REDIS_LOCAL_SIZE;
    zone->file = cf->conf_file->file.name.data;
    zone->line = cf->conf_file->line;

    zones = ngx_array_push(&lmcf->zones);
    if (zones == NULL) {
        return NULL;
    }

    *zones = zone;

    return zone;
}


/*
 * Completes a level's limits once every zone is declared, and checks that
 * one script call can serve them: all zones of a location on one server.
 */

static ngx_int_t
ngx_http_limit_redis_finish(ngx_conf_t *cf, ngx_http_limit_redis_conf_t *conf)
{
    u_char                            *p;
    size_t                             len;
    int64_t                            quota;
    ngx_uint_t                         i;
    ngx_http_limit_redis_zone_t       *zone, *first;
    ngx_http_limit_redis_limit_t      *limit;
    ngx_http_limit_redis_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_limit_redis_module);

    limit = conf->limits.elts;
    first = limit[0].zone;

    if (conf->limits.nelts > lmcf->max_zones) {
        lmcf->max_zones = conf->limits.nelts;
    }

    for (i = 0; i < conf->limits.nelts; i++) {
        zone = limit[i].zone;

        if (zone->server != first->server) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"limit_redis\" zones \"%V\" and \"%V\" use "
                          "different redis servers, but all zones of a "
                          "location are checked in one call to one "
                          "server, in %s:%ui",
                          &first->name, &zone->name, conf->file, conf->line);
            return NGX_ERROR;
        }

        if (limit[i].policy.len) {
            continue;
        }

        limit[i].gcra.interval = zone->interval;

        /* the largest backlog the zone accepts, for the script */

        limit[i].quota_arg.data = ngx_pnalloc(cf->pool, NGX_INT64_LEN);
        if (limit[i].quota_arg.data == NULL) {
            return NGX_ERROR;
        }

        limit[i].quota_arg.len = ngx_sprintf(limit[i].quota_arg.data, "%L",
                                             limit[i].gcra.burst
                                             * zone->interval)
                                 - limit[i].quota_arg.data;

        /* the whole burst, B + 1 requests, in (B + 1) * T */

        quota = limit[i].gcra.burst + 1;

        len = sizeof("\"\";q=;w=") - 1 + zone->name.len + 2 * NGX_INT64_LEN;

        p = ngx_pnalloc(cf->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        limit[i].policy.data = p;
        limit[i].policy.len = ngx_sprintf(p, "\"%V\";q=%L;w=%L", &zone->name,
                                          quota,
                                          mg_gcra_seconds(quota
                                                          * zone->interval))
                              - p;
    }

    conf->server = ngx_http_limit_redis_server(cf, first->script);
    if (conf->server == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the batches of a script, shared by the locations whose zones use it */

static ngx_http_limit_redis_server_t *
ngx_http_limit_redis_server(ngx_conf_t *cf,
    ngx_http_meshgate_redis_script_t *script)
{
    ngx_uint_t                         i;
    ngx_http_limit_redis_server_t     *server, **servers;
    ngx_http_limit_redis_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_limit_redis_module);

    servers = lmcf->servers.elts;

    for (i = 0; i < lmcf->servers.nelts; i++) {
        if (servers[i]->script == script) {
            return servers[i];
        }
    }

    server = ngx_pcalloc(cf->pool, sizeof(ngx_http_limit_redis_server_t));
    if (server == NULL) {
        return NULL;
    }

    server->script = script;
    server->lmcf = lmcf;
    ngx_queue_init(&server->free);

    servers = ngx_array_push(&lmcf->servers);
    if (servers == NULL) {
        return NULL;
    }

    *servers = server;

    return server;
}


static void *
ngx_http_limit_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_limit_redis_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_limit_redis_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&lmcf->zones, cf->pool, 4,
                       sizeof(ngx_http_limit_redis_zone_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&lmcf->servers, cf->pool, 1,
                       sizeof(ngx_http_limit_redis_server_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return lmcf;
}


/* the http block is parsed: every zone referenced must be declared now */

static char *
ngx_http_limit_redis_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_limit_redis_main_conf_t *lmcf = conf;

    ngx_uint_t                     i;
    ngx_http_limit_redis_zone_t  **zones;

    zones = lmcf->zones.elts;

    for (i = 0; i < lmcf->zones.nelts; i++) {
        if (!zones[i]->declared) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"limit_redis\" refers to unknown zone \"%V\" "
                          "(no \"limit_redis_zone\" declares it) in %s:%ui",
                          &zones[i]->name, zones[i]->file, zones[i]->line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_limit_redis_create_conf(ngx_conf_t *cf)
{
    ngx_http_limit_redis_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_limit_redis_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->limits.elts = NULL;
     *     conf->server = NULL;
     *     conf->delay_log_level = 0;
     *     conf->file = NULL;
     *     conf->line = 0;
     */

    conf->status_code = NGX_CONF_UNSET_UINT;
    conf->fail = NGX_CONF_UNSET_UINT;
    conf->headers = NGX_CONF_UNSET;
    conf->dry_run = NGX_CONF_UNSET;
    conf->log_level = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_limit_redis_merge_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_limit_redis_conf_t *prev = parent;
    ngx_http_limit_redis_conf_t *conf = child;

    ngx_uint_t                     i;
    ngx_http_limit_redis_limit_t  *limit;

    /* like limit_req: a level with no limit_redis inherits them all */

    if (conf->limits.elts == NULL) {
        conf->limits = prev->limits;
        conf->server = prev->server;
        conf->file = prev->file;
        conf->line = prev->line;
    }

    ngx_conf_merge_uint_value(conf->status_code, prev->status_code,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_uint_value(conf->fail, prev->fail,
                              NGX_HTTP_LIMIT_REDIS_FAIL_OPEN);
    ngx_conf_merge_value(conf->headers, prev->headers, 1);
    ngx_conf_merge_value(conf->dry_run, prev->dry_run, 0);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level,
                              NGX_LOG_ERR);

    conf->delay_log_level = (conf->log_level == NGX_LOG_INFO)
                            ? NGX_LOG_INFO : conf->log_level + 1;

    if (conf->limits.nelts == 0) {
        return NGX_CONF_OK;
    }

    if (conf->server == NULL
        && ngx_http_limit_redis_finish(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->fail != NGX_HTTP_LIMIT_REDIS_FAIL_LOCAL) {
        return NGX_CONF_OK;
    }

    /* shared memory only for zones that may fall back to it */

    limit = conf->limits.elts;

    for (i = 0; i < conf->limits.nelts; i++) {
        if (limit[i].zone->shm_zone == NULL
            && ngx_http_limit_redis_local_add(cf, limit[i].zone) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_limit_redis_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                             c, *p, *colon;
    ssize_t                            size;
    ngx_str_t                         *value, name, rate, server, s, source;
    ngx_uint_t                         i;
    ngx_http_limit_redis_zone_t       *zone;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    name.len = 0;
    rate.len = 0;
    server.len = 0;
    size = NGX_HTTP_LIMIT_REDIS_LOCAL_SIZE;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;
            name.len = value[i].len - 5;

            colon = (u_char *) ngx_strlchr(name.data, name.data + name.len,
                                           ':');

            if (colon) {
                s.data = colon + 1;
                s.len = name.data + name.len - s.data;
                name.len = colon - name.data;

                size = ngx_parse_size(&s);

                if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "\"limit_redis_zone\" has an invalid "
                                       "zone size \"%V\", at least %uz is "
                                       "needed", &value[i], 8 * ngx_pagesize);
                    return NGX_CONF_ERROR;
                }
            }

            /* the name goes into Redis keys and header values as it is */

            for (p = name.data; p < name.data + name.len; p++) {
                c = ngx_tolower(*p);

                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                      || c == '_' || c == '-' || c == '.'))
                {
                    break;
                }
            }

            if (name.len == 0 || p < name.data + name.len) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"limit_redis_zone\" has an invalid "
                                   "zone name in \"%V\": use letters, "
                                   "digits, \"_\", \"-\" and \".\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            rate.data = value[i].data + 5;
            rate.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "redis=", 6) == 0) {
            server.data = value[i].data + 6;
            server.len = value[i].len - 6;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis_zone\" has an invalid parameter "
                           "\"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0 || rate.len == 0 || server.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis_zone\" must have \"zone=\", "
                           "\"rate=\" and \"redis=\" parameters");
        return NGX_CONF_ERROR;
    }

    zone = ngx_http_limit_redis_find_zone(cf, &name);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->declared) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate \"limit_redis_zone\" zone \"%V\"",
                           &name);
        return NGX_CONF_ERROR;
    }

    zone->declared = 1;
    zone->size = size;

    if (mg_gcra_parse_rate(rate.data, rate.len, &zone->interval) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis_zone\" has an invalid rate "
                           "\"rate=%V\": use Nr/s or Nr/m, from 1r/m to "
                           "1000000r/s", &rate);
        return NGX_CONF_ERROR;
    }

    zone->interval_arg.data = ngx_pnalloc(cf->pool, NGX_INT64_LEN);
    if (zone->interval_arg.data == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->interval_arg.len = ngx_sprintf(zone->interval_arg.data, "%L",
                                         zone->interval)
                             - zone->interval_arg.data;

    zone->server = ngx_http_meshgate_redis_server(cf, &server);
    if (zone->server == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->script = ngx_http_meshgate_redis_add_script(cf, zone->server,
                                               &ngx_http_limit_redis_script);
    if (zone->script == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the key's constant prefix is compiled in: no copy per request */

    zone->prefix = sizeof(NGX_HTTP_LIMIT_REDIS_PREFIX) - 1 + name.len + 1;

    source.len = zone->prefix + value[1].len;
    source.data = ngx_pnalloc(cf->pool, source.len);
    if (source.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(source.data, NGX_HTTP_LIMIT_REDIS_PREFIX,
                   sizeof(NGX_HTTP_LIMIT_REDIS_PREFIX) - 1);
    p = ngx_cpymem(p, name.data, name.len);
    *p++ = ':';
    ngx_memcpy(p, value[1].data, value[1].len);

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &source;
    ccv.complex_value = &zone->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_limit_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_limit_redis_conf_t *lrcf = conf;

    ngx_int_t                      burst, delay;
    ngx_str_t                     *value, name;
    ngx_uint_t                     i, nodelay;
    ngx_http_limit_redis_zone_t   *zone;
    ngx_http_limit_redis_limit_t  *limit, *limits;

    value = cf->args->elts;

    name.len = 0;
    burst = 0;
    delay = 0;
    nodelay = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            name.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {

            burst = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (burst <= 0 || burst > MG_GCRA_MAX_BURST) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"limit_redis\" has an invalid burst "
                                   "\"%V\", from 1 to %d", &value[i],
                                   MG_GCRA_MAX_BURST);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "delay=", 6) == 0) {

            delay = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (delay <= 0 || delay > MG_GCRA_MAX_BURST) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"limit_redis\" has an invalid delay "
                                   "\"%V\", from 1 to %d", &value[i],
                                   MG_GCRA_MAX_BURST);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "nodelay") == 0) {
            nodelay = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis\" has an invalid parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis\" must have a \"zone=\" parameter");
        return NGX_CONF_ERROR;
    }

    if (nodelay && delay) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis\" takes \"nodelay\" or \"delay=\", "
                           "not both");
        return NGX_CONF_ERROR;
    }

    zone = ngx_http_limit_redis_find_zone(cf, &name);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    limits = lrcf->limits.elts;

    if (limits == NULL) {
        if (ngx_array_init(&lrcf->limits, cf->pool, 1,
                           sizeof(ngx_http_limit_redis_limit_t))
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        lrcf->file = cf->conf_file->file.name.data;
        lrcf->line = cf->conf_file->line;
    }

    for (i = 0; i < lrcf->limits.nelts; i++) {
        if (limits[i].zone == zone) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"limit_redis\" uses zone \"%V\" twice "
                               "at this level", &name);
            return NGX_CONF_ERROR;
        }
    }

    limit = ngx_array_push(&lrcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(limit, sizeof(ngx_http_limit_redis_limit_t));

    limit->zone = zone;
    limit->gcra.burst = burst;
    limit->gcra.delay = nodelay ? MG_GCRA_NODELAY : delay;

    return NGX_CONF_OK;
}


static char *
ngx_http_limit_redis_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_limit_redis_conf_t *lrcf = conf;

    ngx_int_t   status;
    ngx_str_t  *value;

    if (lrcf->status_code != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    status = ngx_atoi(value[1].data, value[1].len);

    if (status < 400 || status > 599) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit_redis_status\" has an invalid code "
                           "\"%V\", from 400 to 599", &value[1]);
        return NGX_CONF_ERROR;
    }

    lrcf->status_code = status;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_limit_redis_add_variables(ngx_conf_t *cf)
{
    return ngx_http_meshgate_register_variables(cf, ngx_http_limit_redis_vars);
}


static ngx_int_t
ngx_http_limit_redis_init(ngx_conf_t *cf)
{
    ngx_uint_t                         n;
    ngx_http_handler_pt               *h;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_http_limit_redis_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_limit_redis_module);

    /* unused, the module costs nothing */

    if (lmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    /*
     * Room to put the largest batch's command together, each worker its
     * own copy: at most BATCH_KEYS keys, or the zones of one location that
     * has more, and for each request its number of keys, then two
     * arguments per key.
     */

    n = ngx_max(lmcf->max_zones, NGX_HTTP_LIMIT_REDIS_BATCH_KEYS);

    lmcf->keys = ngx_palloc(cf->pool, n * sizeof(ngx_str_t));
    if (lmcf->keys == NULL) {
        return NGX_ERROR;
    }

    lmcf->args = ngx_palloc(cf->pool,
                            (2 * n + NGX_HTTP_LIMIT_REDIS_BATCH_REQUESTS)
                            * sizeof(ngx_str_t));
    if (lmcf->args == NULL) {
        return NGX_ERROR;
    }

    lmcf->numbers = ngx_pnalloc(cf->pool, NGX_HTTP_LIMIT_REDIS_BATCH_REQUESTS
                                          * NGX_INT_T_LEN);
    if (lmcf->numbers == NULL) {
        return NGX_ERROR;
    }

    /* see the top of this file */

    if (ngx_http_limit_redis_module.index > ngx_http_auth_jwt_module.index) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "limit_redis must be listed before auth_jwt in the "
                      "module's \"config\", so that it runs after it");
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_limit_redis_preaccess_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_limit_redis_access_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_limit_redis_access_handler;

    return NGX_OK;
}
