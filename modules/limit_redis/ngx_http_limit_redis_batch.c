
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: limit_redis's batches, the script calls that check requests
 * in Redis.
 *
 * What Redis spends on a script call is mostly per call (the call itself,
 * its TIME, GET and SET), little per request, and Redis shares the CPUs
 * with nginx.  So each worker collects the requests that reach the
 * limiter during one pass of its event loop, per redis_server, into a
 * batch, and a posted event sends the batch as one script call at the end
 * of the pass.  While a batch already awaits its reply, the next one keeps
 * taking requests until that reply comes, or for at most
 * NGX_HTTP_LIMIT_REDIS_BATCH_WAIT: under load, batches grow with the load
 * instead of calls multiplying, at the price of a reply's time at most.
 * Redis evaluates the requests atomically and in order, each
 * with all zones of its location, exactly as if each had made its own
 * call; the reply resumes every request that is still there, and a batch
 * none of whose requests is left is cancelled.
 */


#include "ngx_http_limit_redis_module.h"


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
 * How many batches of a server a worker lets await replies before the
 * next one waits, and how long it waits at most (ms): when Redis is slow,
 * no request should wait more than its command's timeout and this.
 */
#define NGX_HTTP_LIMIT_REDIS_BATCH_SENT_MAX    1
#define NGX_HTTP_LIMIT_REDIS_BATCH_WAIT        1

/*
 * The batches of a server that a worker may have open or in flight, each
 * about 2 KB, allocated as needed and then reused; past that, requests
 * fail as when Redis has too many commands waiting.
 */
#define NGX_HTTP_LIMIT_REDIS_BATCHES           512

/* what a bulk string costs in RESP beyond its bytes, at most */
#define NGX_HTTP_LIMIT_REDIS_BULK              (NGX_SIZE_T_LEN + 5)

/*
 * The largest element of the script's answer: an integer
 * (":-9223372036854775808\r\n"), or, as a run's count, the error a GET
 * got ("-WRONGTYPE Operation against a key holding the wrong kind of
 * value\r\n"), with room to spare.
 */
#define NGX_HTTP_LIMIT_REDIS_REPLY_INTEGER     23
#define NGX_HTTP_LIMIT_REDIS_REPLY_ERROR       256


/*
 * Where a batch's command is put together, just before it is sent, each
 * worker its own.  A key that several requests of the batch share goes
 * into KEYS once: the buckets find it by its hash, those of an earlier
 * command being told apart by their serial number.
 */

typedef struct {
    ngx_uint_t                          serial; /* the command it is in */
    ngx_uint_t                          index;  /* its KEYS index, from 1 */
    uint32_t                            hash;
} ngx_http_limit_redis_bucket_t;


struct ngx_http_limit_redis_command_s {
    ngx_uint_t                          serial;

    ngx_uint_t                          nkeys;
    ngx_str_t                          *keys;
    ngx_str_t                          *args;

    /* "0", "1", ...: every number an argument may be, each made once */
    ngx_str_t                          *numbers;

    ngx_http_limit_redis_bucket_t      *buckets;
    ngx_uint_t                          mask;

    /* a request's part of the reply, decoded for mg_gcra_read_reply() */
    mg_gcra_element_t                  *elements;
};


typedef struct {
    ngx_http_limit_redis_ctx_t         *ctx;    /* NULL: the request is gone */
    ngx_uint_t                          n;      /* its zones */
    ngx_uint_t                          run;    /* its place in its run */
} ngx_http_limit_redis_slot_t;


struct ngx_http_limit_redis_batch_s {
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
};


static ngx_http_limit_redis_batch_t *ngx_http_limit_redis_new_batch(
    ngx_http_limit_redis_server_t *server);
static void ngx_http_limit_redis_post(ngx_http_limit_redis_batch_t *batch);
static void ngx_http_limit_redis_replied(
    ngx_http_limit_redis_server_t *server);
static void ngx_http_limit_redis_flush(ngx_event_t *ev);
static ngx_uint_t ngx_http_limit_redis_key(
    ngx_http_limit_redis_command_t *command, ngx_str_t *key);
static ngx_uint_t ngx_http_limit_redis_repeats(ngx_str_t *prev,
    ngx_str_t *entry, ngx_uint_t n);
static void ngx_http_limit_redis_reply(void *data, ngx_int_t rc,
    redisReply *reply);
static void ngx_http_limit_redis_batch_done(
    ngx_http_limit_redis_batch_t *batch, redisReply *reply,
    ngx_str_t *reason);
static void ngx_http_limit_redis_resume(ngx_http_limit_redis_ctx_t *ctx,
    redisReply **element, ngx_uint_t q, ngx_uint_t m, ngx_str_t *reason);
static ngx_int_t ngx_http_limit_redis_read_reply(
    ngx_http_limit_redis_ctx_t *ctx, redisReply **element, ngx_uint_t q,
    ngx_uint_t m, ngx_str_t *error);
static void ngx_http_limit_redis_release(ngx_http_limit_redis_batch_t *batch);
static void ngx_http_limit_redis_recovered(ngx_http_request_t *r,
    ngx_http_limit_redis_ctx_t *ctx);


static char  *ngx_http_limit_redis_fail_names[] = {
    "open", "closed", "local"
};


/*
 * Adds the request to the batch that takes the requests of its server; the
 * first request of a batch posts the event that sends it at the end of
 * this pass of the event loop.
 */

ngx_int_t
ngx_http_limit_redis_add(ngx_http_limit_redis_ctx_t *ctx)
{
    size_t                          size;
    ngx_uint_t                      i;
    ngx_http_limit_redis_batch_t   *batch;
    ngx_http_limit_redis_server_t  *server;

    /*
     * What the request adds to its batch's command, at most: its number of
     * zones, and per zone a key, a limit (T and B * T) and the indices
     * that refer to them.
     */

    size = NGX_HTTP_LIMIT_REDIS_BULK;

    for (i = 0; i < ctx->n; i++) {
        size += ctx->keys[i].len + ctx->limits[i]->zone->interval_arg.len
                + ctx->limits[i]->quota_arg.len
                + 5 * NGX_HTTP_LIMIT_REDIS_BULK;
    }

    server = ctx->conf->server;
    batch = server->batch;

    if (batch
        && (batch->nslots == NGX_HTTP_LIMIT_REDIS_BATCH_REQUESTS
            || (batch->nslots
                && (batch->nkeys + ctx->n > NGX_HTTP_LIMIT_REDIS_BATCH_KEYS
                    || batch->size + size > NGX_HTTP_LIMIT_REDIS_BATCH_SIZE))))
    {
        /* full: it goes at the end of the pass, whatever awaits replies */

        ngx_http_limit_redis_post(batch);

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

    if (server->sent < NGX_HTTP_LIMIT_REDIS_BATCH_SENT_MAX) {
        ngx_post_event(&batch->flush, &ngx_posted_events);

    } else {
        ngx_add_timer(&batch->flush, NGX_HTTP_LIMIT_REDIS_BATCH_WAIT);
    }

    return batch;
}


/* a waiting batch goes at the end of this pass */

static void
ngx_http_limit_redis_post(ngx_http_limit_redis_batch_t *batch)
{
    if (batch->flush.timer_set) {
        ngx_del_timer(&batch->flush);
    }

    if (!batch->flush.posted) {
        ngx_post_event(&batch->flush, &ngx_posted_events);
    }
}


/* a batch's reply came, or it will not: the waiting one may go */

static void
ngx_http_limit_redis_replied(ngx_http_limit_redis_server_t *server)
{
    server->sent--;

    if (server->batch) {
        ngx_http_limit_redis_post(server->batch);
    }
}


/*
 * The end of the event loop's pass: the batch goes to Redis, as the script
 * of ngx_http_limit_redis_script.c takes it.
 */

static void
ngx_http_limit_redis_flush(ngx_event_t *ev)
{
    ngx_int_t                          rc;
    ngx_str_t                          reason, *args, *numbers, *entry, *prev;
    ngx_uint_t                         i, j, k, s, m, nargs, runs;
    mg_resp_limits_t                   limits;
    ngx_http_limit_redis_ctx_t        *ctx;
    ngx_http_limit_redis_batch_t      *batch;
    ngx_http_limit_redis_limit_t      *limit;
    ngx_http_limit_redis_server_t     *server;
    ngx_http_limit_redis_command_t    *command;

    batch = ev->data;
    server = batch->server;
    command = server->lmcf->command;

    ev->timedout = 0;

    if (server->batch == batch) {
        server->batch = NULL;
    }

    command->serial++;
    command->nkeys = 0;

    args = command->args;
    numbers = command->numbers;

    /*
     * The requests that are gone take no part: their keys went with their
     * pools.  The limits of the others come first, each once.
     */

    m = 0;
    s = 0;

    for (i = 0; i < batch->nslots; i++) {
        ctx = batch->slots[i].ctx;

        if (ctx == NULL) {
            continue;
        }

        batch->slots[s] = batch->slots[i];
        ctx->slot = s;
        s++;

        for (j = 0; j < ctx->n; j++) {
            limit = ctx->limits[j];

            if (limit->serial == command->serial) {
                continue;
            }

            limit->serial = command->serial;
            limit->index = ++m;

            args[2 * m - 1] = limit->zone->interval_arg;
            args[2 * m] = limit->quota_arg;
        }
    }

    batch->nslots = s;

    if (s == 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                       "limit_redis batch %p: no requests left", batch);

        ngx_http_limit_redis_release(batch);
        return;
    }

    args[0] = numbers[m];
    nargs = 1 + 2 * m;

    /* then the requests, in their order */

    prev = NULL;
    runs = 0;
    limits.elements = 0;

    for (i = 0; i < s; i++) {
        ctx = batch->slots[i].ctx;
        entry = &args[nargs];

        entry[0] = numbers[ctx->n];

        for (j = 0; j < ctx->n; j++) {
            k = ngx_http_limit_redis_key(command, &ctx->keys[j]);

            entry[2 * j + 1] = numbers[ctx->limits[j]->index];
            entry[2 * j + 2] = numbers[k];
        }

        if (prev && ngx_http_limit_redis_repeats(prev, entry, ctx->n)) {
            entry[0] = numbers[0];
            batch->slots[i].run = batch->slots[i - 1].run + 1;
            nargs++;
            continue;
        }

        batch->slots[i].run = 0;
        prev = entry;
        nargs += 1 + 2 * ctx->n;

        runs++;
        limits.elements += 1 + ctx->n;
    }

    /*
     * The answer is a flat array, {count, backlog...} per run, which is
     * all Redis may send back, besides an error instead of it
     * (ngx_http_limit_redis_reply() checks the same count).
     */

    limits.depth = 1;
    limits.size = mg_resp_array_size(limits.elements)
                  + limits.elements * NGX_HTTP_LIMIT_REDIS_REPLY_INTEGER
                  + runs * NGX_HTTP_LIMIT_REDIS_REPLY_ERROR;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "limit_redis batch %p: %ui requests, %ui limits, "
                   "%ui keys, %ui arguments",
                   batch, s, m, command->nkeys, nargs);

    rc = ngx_http_meshgate_redis_eval(server->script, command->nkeys,
                                      command->keys, nargs, args, &limits,
                                      ngx_http_limit_redis_reply, batch,
                                      ev->log, &batch->cmd);

    if (rc == NGX_OK) {
        batch->state = NGX_HTTP_LIMIT_REDIS_BATCH_SENT;
        server->sent++;
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


/* the KEYS index of a key, which joins KEYS unless it is there already */

static ngx_uint_t
ngx_http_limit_redis_key(ngx_http_limit_redis_command_t *command,
    ngx_str_t *key)
{
    uint32_t                        hash;
    ngx_str_t                      *known;
    ngx_uint_t                      i;
    ngx_http_limit_redis_bucket_t  *bucket;

    hash = ngx_murmur_hash2(key->data, key->len);

    /* never full: there are twice as many buckets as keys may be */

    for (i = hash & command->mask; /* void */ ; i = (i + 1) & command->mask) {
        bucket = &command->buckets[i];

        if (bucket->serial != command->serial) {
            bucket->serial = command->serial;
            bucket->index = ++command->nkeys;
            bucket->hash = hash;

            command->keys[bucket->index - 1] = *key;

            return bucket->index;
        }

        known = &command->keys[bucket->index - 1];

        if (bucket->hash == hash
            && known->len == key->len
            && ngx_memcmp(known->data, key->data, key->len) == 0)
        {
            return bucket->index;
        }
    }
}


/*
 * Whether a request's entry, its number n of zones and their limit and key
 * indices, is the same as the one before: then "0" stands for it.  The
 * numbers are all from the command's table: equal values, equal pointers.
 */

static ngx_uint_t
ngx_http_limit_redis_repeats(ngx_str_t *prev, ngx_str_t *entry, ngx_uint_t n)
{
    ngx_uint_t  i;

    if (prev[0].data != entry[0].data) {
        return 0;
    }

    for (i = 1; i <= 2 * n; i++) {
        if (prev[i].data != entry[i].data) {
            return 0;
        }
    }

    return 1;
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

    ngx_http_limit_redis_replied(batch->server);

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
            if (batch->slots[i].run == 0) {
                n += 1 + batch->slots[i].n;
            }
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
    ngx_uint_t                   i, e, g, m;
    ngx_http_limit_redis_ctx_t  *ctx;

    batch->state = NGX_HTTP_LIMIT_REDIS_BATCH_REPLYING;

    e = 0;
    g = 0;
    m = 1;

    for (i = 0; i < batch->nslots; i++) {
        ctx = batch->slots[i].ctx;

        /* the part of the reply that answers the request's run */

        if (batch->slots[i].run == 0) {
            g = e;
            e += 1 + batch->slots[i].n;

            for (m = 1;
                 i + m < batch->nslots && batch->slots[i + m].run;
                 m++)
            { /* void */ }
        }

        if (ctx) {
            batch->slots[i].ctx = NULL;
            batch->live--;
            ctx->batch = NULL;

            ngx_http_limit_redis_resume(ctx,
                                        reply ? &reply->element[g] : NULL,
                                        batch->slots[i].run, m, reason);
        }
    }

    ngx_http_limit_redis_release(batch);
}


/*
 * The request's verdict from its run's part of the reply, q its place in
 * the run of m requests, or its failure.
 */

static void
ngx_http_limit_redis_resume(ngx_http_limit_redis_ctx_t *ctx,
    redisReply **element, ngx_uint_t q, ngx_uint_t m, ngx_str_t *reason)
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
        rc = ngx_http_limit_redis_read_reply(ctx, element, q, m, &error);

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


/*
 * The request's part of the reply, element[0] to element[ctx->n], goes to
 * mg_gcra_read_reply(), which checks it and decides the request.  Returns
 * NGX_DECLINED when Redis answered the run with an error, the error's text
 * in *error.
 */

static ngx_int_t
ngx_http_limit_redis_read_reply(ngx_http_limit_redis_ctx_t *ctx,
    redisReply **element, ngx_uint_t q, ngx_uint_t m, ngx_str_t *error)
{
    ngx_uint_t          i;
    redisReply         *e;
    mg_gcra_element_t  *elements;

    elements = ctx->conf->server->lmcf->command->elements;

    for (i = 0; i <= ctx->n; i++) {
        e = element[i];

        if (e == NULL) {
            elements[i].type = MG_GCRA_ELEMENT_OTHER;

        } else if (e->type == REDIS_REPLY_INTEGER) {
            elements[i].type = MG_GCRA_ELEMENT_INTEGER;
            elements[i].integer = e->integer;

        } else if (e->type == REDIS_REPLY_ERROR) {
            elements[i].type = MG_GCRA_ELEMENT_ERROR;

        } else {
            elements[i].type = MG_GCRA_ELEMENT_OTHER;
        }
    }

    switch (mg_gcra_read_reply(elements, ctx->n, q, m, ctx->zones,
                               &ctx->decision))
    {
    case MG_GCRA_REPLY_OK:
        return NGX_OK;

    case MG_GCRA_REPLY_ERROR:
        error->len = element[0]->len;
        error->data = (u_char *) element[0]->str;
        return NGX_DECLINED;

    case MG_GCRA_REPLY_DISAGREES:
        ngx_str_set(error, "reply disagrees with the limits");
        return NGX_ERROR;

    default: /* MG_GCRA_REPLY_UNEXPECTED */
        ngx_str_set(error, "unexpected reply");
        return NGX_ERROR;
    }
}


static void
ngx_http_limit_redis_release(ngx_http_limit_redis_batch_t *batch)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "limit_redis batch %p released", batch);

    ngx_queue_insert_head(&batch->server->free, &batch->queue);
}


/*
 * A failure episode starts with the first failure of a zone and ends with
 * its first good reply; each end is logged once (per worker).
 */

void
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


/* the request goes away while it waits for Redis */

void
ngx_http_limit_redis_leave(ngx_http_limit_redis_ctx_t *ctx)
{
    ngx_http_limit_redis_batch_t  *batch;

    batch = ctx->batch;

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
        ngx_http_limit_redis_replied(batch->server);
        ngx_http_limit_redis_release(batch);
    }
}


/*
 * Room to put the largest batch's command together, each worker its own
 * copy.  A batch has at most BATCH_KEYS zone keys, or the zones of one
 * location that has more, n in all: at most n keys and n limits, and per
 * request its number of zones, then two indices per zone.  And room for a
 * request's part of the reply: a count and a backlog per zone.
 */

ngx_int_t
ngx_http_limit_redis_init_batches(ngx_conf_t *cf,
    ngx_http_limit_redis_main_conf_t *lmcf)
{
    u_char                          *p;
    ngx_uint_t                       i, n, size;
    ngx_http_limit_redis_command_t  *command;

    n = ngx_max(lmcf->max_zones, NGX_HTTP_LIMIT_REDIS_BATCH_KEYS);

    command = ngx_pcalloc(cf->pool, sizeof(ngx_http_limit_redis_command_t));
    if (command == NULL) {
        return NGX_ERROR;
    }

    command->keys = ngx_palloc(cf->pool, n * sizeof(ngx_str_t));
    if (command->keys == NULL) {
        return NGX_ERROR;
    }

    command->args = ngx_palloc(cf->pool,
                               (1 + 4 * n + NGX_HTTP_LIMIT_REDIS_BATCH_REQUESTS)
                               * sizeof(ngx_str_t));
    if (command->args == NULL) {
        return NGX_ERROR;
    }

    /* every count and index is at most n */

    command->numbers = ngx_palloc(cf->pool, (n + 1) * sizeof(ngx_str_t));
    if (command->numbers == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(cf->pool, (n + 1) * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i <= n; i++) {
        command->numbers[i].data = p;
        p = ngx_sprintf(p, "%ui", i);
        command->numbers[i].len = p - command->numbers[i].data;
    }

    for (size = 1; size < 2 * n; size <<= 1) { /* void */ }

    command->buckets = ngx_pcalloc(cf->pool, size
                                   * sizeof(ngx_http_limit_redis_bucket_t));
    if (command->buckets == NULL) {
        return NGX_ERROR;
    }

    command->mask = size - 1;

    command->elements = ngx_palloc(cf->pool, (lmcf->max_zones + 1)
                                             * sizeof(mg_gcra_element_t));
    if (command->elements == NULL) {
        return NGX_ERROR;
    }

    lmcf->command = command;

    return NGX_OK;
}
