
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: aggregate's bodies.  A part's answer is read as JSON, shaped
 * as its options say and kept for the answer (ngx_http_aggregate_read());
 * the answer is made of them (ngx_http_aggregate_send()).
 *
 * Nothing is copied that need not be: in group mode the answer is a chain
 * of buffers pointing at the parts' bodies as received, validated but not
 * rebuilt (path= only moves the pointers); fields= writes a new value,
 * merge mode one new object.  A body that goes into the answer as it came
 * is only validated, without tokens: it costs nothing but itself.
 */


#include "ngx_http_aggregate_module.h"


static void ngx_http_aggregate_values(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, ngx_uint_t source, mg_json_t *json);
static ngx_uint_t ngx_http_aggregate_tokens(ngx_http_aggregate_ctx_t *ctx,
    ngx_http_aggregate_part_ctx_t *part);
static void ngx_http_aggregate_trim(ngx_str_t *json, u_char *data,
    size_t len);
static ngx_int_t ngx_http_aggregate_shape(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, ngx_http_aggregate_part_ctx_t *part,
    mg_json_t *json, uint32_t root);
static ngx_chain_t *ngx_http_aggregate_group(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, off_t *len);
static ngx_chain_t *ngx_http_aggregate_merge(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, off_t *len);
static ngx_uint_t ngx_http_aggregate_error_page(ngx_http_request_t *r,
    ngx_uint_t status);
static ngx_chain_t *ngx_http_aggregate_error(ngx_http_request_t *r,
    ngx_http_aggregate_part_ctx_t *failed, off_t *len);
static ngx_buf_t *ngx_http_aggregate_append(ngx_http_request_t *r,
    ngx_chain_t ***ll, u_char *data, size_t len);
static void ngx_http_aggregate_last(ngx_http_request_t *r, ngx_buf_t *b);
static ngx_int_t ngx_http_aggregate_complete(ngx_http_request_t *r,
    ngx_uint_t complete);


void
ngx_http_aggregate_set(ngx_http_request_t *r,
    ngx_http_aggregate_part_ctx_t *part, ngx_uint_t outcome,
    const char *reason)
{
    ngx_uint_t  level;

    part->state = NGX_HTTP_AGGREGATE_DONE;
    part->outcome = outcome;
    part->reason = reason;

    if (outcome == NGX_HTTP_AGGREGATE_OK) {
        return;
    }

    level = part->conf->optional ? NGX_LOG_WARN : NGX_LOG_ERR;

    ngx_log_error(level, r->connection->log, 0,
                  "aggregate: %s part \"%V\" failed: %s%s%s%s",
                  part->conf->optional ? "optional" : "required",
                  &part->conf->name, reason,
                  part->detail ? " (" : "", part->detail ? part->detail : "",
                  part->detail ? ")" : "");
}


/* a string for the log: nginx strings are not terminated */

const char *
ngx_http_aggregate_text(ngx_http_request_t *r, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    (void) ngx_cpystrn(p, s->data, s->len + 1);

    return (const char *) p;
}


void
ngx_http_aggregate_read(ngx_http_request_t *r, ngx_http_aggregate_ctx_t *ctx,
    ngx_http_aggregate_part_ctx_t *part)
{
    u_char                       *reason;
    int32_t                       root;
    mg_json_t                     json;
    ngx_int_t                     rc;
    ngx_uint_t                    status;
    const char                   *err;
    mg_allocator_t                a;
    ngx_table_elt_t              *h;
    ngx_http_request_t           *sr;
    ngx_http_meshgate_capture_t  *body;

    sr = part->sr;
    body = part->body;
    rc = part->rc;
    status = sr->headers_out.status;

    if (body == NULL || rc == NGX_ERROR || rc == NGX_HTTP_REQUEST_TIME_OUT
        || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST || rc == NGX_HTTP_CLOSE)
    {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                               "request failed");
        return;
    }

    /*
     * nginx's own 502 or 504 for a proxied part, unless error_page made
     * something else of it: the service could not be reached, or did not
     * answer properly or in time.
     */

    if ((part->error == NGX_HTTP_BAD_GATEWAY
         || part->error == NGX_HTTP_GATEWAY_TIME_OUT)
        && sr->upstream && status == (ngx_uint_t) part->error)
    {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                               "request failed");
        return;
    }

    if (status < NGX_HTTP_OK || status >= NGX_HTTP_SPECIAL_RESPONSE) {
        reason = ngx_pnalloc(r->pool, sizeof("status ") + NGX_INT_T_LEN);
        if (reason == NULL) {
            ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                                   "request failed");
            return;
        }

        (void) ngx_sprintf(reason, "status %ui%Z", status);

        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_STATUS,
                               (char *) reason);
        return;
    }

    if (body->overflow) {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_TOO_LARGE,
                               "response too large");
        return;
    }

    if (body->error) {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                               "response could not be read");
        return;
    }

    h = sr->headers_out.content_encoding;

    if (h && h->value.len
        && !(h->value.len == 8
             && ngx_strncasecmp(h->value.data, (u_char *) "identity", 8)
                == 0))
    {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_INVALID,
                               "response has a Content-Encoding");
        return;
    }

    ngx_http_meshgate_pool_allocator(&a, r->pool);

    if (!ngx_http_aggregate_tokens(ctx, part)) {
        if (mg_json_parse(&json, body->data, body->len, MG_JSON_VALIDATE,
                          0xffffffff, NGX_HTTP_AGGREGATE_MAX_DEPTH, &a, &err)
            != 0)
        {
            part->detail = err;
            ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_INVALID,
                                   "invalid JSON");
            return;
        }

        ngx_http_aggregate_trim(&part->json, body->data, body->len);
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_OK, NULL);
        return;
    }

    if (mg_json_parse(&json, body->data, body->len, 0, 0xffffffff,
                      NGX_HTTP_AGGREGATE_MAX_DEPTH, &a, &err)
        != 0)
    {
        part->detail = err;
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_INVALID,
                               "invalid JSON");
        goto done;
    }

    /* values for later parts come from the whole answer */

    ngx_http_aggregate_values(r, ctx, part - ctx->parts, &json);

    root = 0;

    if (part->conf->path) {
        root = mg_json_path_get(&json, 0, part->conf->path);

        if (root < 0) {
            ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_INVALID,
                                   "path not found");
            goto done;
        }
    }

    if (ngx_http_aggregate_shape(r, ctx, part, &json, (uint32_t) root)
        == NGX_OK)
    {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_OK, NULL);
    }

done:

    /* tokens take 20 bytes a value: they go as soon as read */

    if (json.toks) {
        ngx_pfree(r->pool, json.toks);
    }
}


/*
 * Whether the body must be read into tokens: to be reshaped, merged, or
 * to give a value to a later part.  Otherwise it goes into the answer as
 * it came, and is only validated.
 */

static ngx_uint_t
ngx_http_aggregate_tokens(ngx_http_aggregate_ctx_t *ctx,
    ngx_http_aggregate_part_ctx_t *part)
{
    return ctx->conf->mode == NGX_HTTP_AGGREGATE_MERGE
           || part->conf->path || part->conf->fields || part->conf->source;
}


/* the value of a valid text: without the white space around it */

static void
ngx_http_aggregate_trim(ngx_str_t *json, u_char *data, size_t len)
{
    u_char  *last;

    last = data + len;

    while (data < last
           && (*data == ' ' || *data == '\t' || *data == '\n'
               || *data == '\r'))
    {
        data++;
    }

    while (last > data
           && (last[-1] == ' ' || last[-1] == '\t' || last[-1] == '\n'
               || last[-1] == '\r'))
    {
        last--;
    }

    json->data = data;
    json->len = last - data;
}


static void
ngx_http_aggregate_values(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, ngx_uint_t source, mg_json_t *json)
{
    u_char                        *text, *p;
    size_t                         len, n;
    int32_t                        v;
    ngx_uint_t                     i;
    ngx_http_aggregate_binding_t  *b;

    if (ctx->conf->bindings == NULL) {
        return;
    }

    b = ctx->conf->bindings->elts;

    for (i = 0; i < ctx->conf->bindings->nelts; i++) {
        if (b[i].source != source) {
            continue;
        }

        v = mg_json_path_get(json, 0, &b[i].path);

        if (v < 0) {
            continue;
        }

        text = ngx_pnalloc(r->pool, json->toks[v].end - json->toks[v].start);
        if (text == NULL) {
            continue;
        }

        if (mg_json_text(json, (uint32_t) v, text, &len) != 0 || len == 0) {
            continue;
        }

        /*
         * Encoded once, here, as one path segment or one query value:
         * the uri is never decoded after it is made (see
         * ngx_http_aggregate_make_uri()), and the part's location and the
         * service get the value with its "/", "?", "#", "%" and dots
         * still encoded.  The variable has that form too.
         */

        n = ngx_http_aggregate_escape(NULL, text, len);

        p = ngx_pnalloc(r->pool, n);
        if (p == NULL) {
            continue;
        }

        (void) ngx_http_aggregate_escape(p, text, len);

        ctx->values[i].data = p;
        ctx->values[i].len = n;
    }
}


static ngx_int_t
ngx_http_aggregate_shape(ngx_http_request_t *r, ngx_http_aggregate_ctx_t *ctx,
    ngx_http_aggregate_part_ctx_t *part, mg_json_t *json, uint32_t root)
{
    u_char          *buf;
    size_t           len;
    const char      *err;
    mg_allocator_t   a;

    if (part->conf->fields) {
        len = json->toks[root].end - json->toks[root].start;

        buf = ngx_pnalloc(r->pool, len);
        if (buf == NULL) {
            ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                                   "out of memory");
            return NGX_ERROR;
        }

        if (mg_json_fields_write(json, root, part->conf->fields, buf, &len)
            != 0)
        {
            ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_INVALID,
                                   "not an object or an array");
            return NGX_ERROR;
        }

    } else {
        buf = (u_char *) json->buf + json->toks[root].start;
        len = json->toks[root].end - json->toks[root].start;
    }

    if (ctx->conf->mode == NGX_HTTP_AGGREGATE_GROUP) {
        part->json.data = buf;
        part->json.len = len;
        return NGX_OK;
    }

    ngx_http_meshgate_pool_allocator(&a, r->pool);

    if (part->conf->fields) {

        /* the members of the filtered object, which is valid JSON */

        ngx_pfree(r->pool, json->toks);

        if (mg_json_parse(json, buf, len, 0, 0xffffffff,
                          NGX_HTTP_AGGREGATE_MAX_DEPTH, &a, &err)
            != 0)
        {
            part->detail = err;
            ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                                   "out of memory");
            return NGX_ERROR;
        }

        root = 0;
    }

    if (json->toks[root].type != MG_JSON_OBJECT) {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_INVALID,
                               "not a JSON object");
        return NGX_ERROR;
    }

    if (mg_json_members(json, root, &part->members, &a) != 0) {
        ngx_http_aggregate_set(r, part, NGX_HTTP_AGGREGATE_ERROR,
                               "out of memory");
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_aggregate_send(ngx_http_request_t *r, ngx_http_aggregate_ctx_t *ctx,
    ngx_http_aggregate_part_ctx_t *failed)
{
    off_t         len;
    ngx_int_t     rc;
    ngx_uint_t    i, complete, status;
    ngx_chain_t  *out;

    complete = 1;

    for (i = 0; i < ctx->conf->parts->nelts; i++) {
        if (ctx->parts[i].outcome != NGX_HTTP_AGGREGATE_OK) {
            complete = 0;
        }
    }

    if (failed) {
        status = (failed->outcome == NGX_HTTP_AGGREGATE_TIMEOUT)
                 ? NGX_HTTP_GATEWAY_TIME_OUT : NGX_HTTP_BAD_GATEWAY;

        /*
         * The location's error_page for the status answers, as for any
         * other 502 or 504: nginx's own finalization applies it.
         */

        if (ngx_http_aggregate_error_page(r, status)) {
            if (ngx_http_aggregate_complete(r, 0) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return status;
        }

        out = ngx_http_aggregate_error(r, failed, &len);
        r->headers_out.status = status;

    } else if (ctx->conf->mode == NGX_HTTP_AGGREGATE_GROUP) {
        out = ngx_http_aggregate_group(r, ctx, &len);
        r->headers_out.status = NGX_HTTP_OK;

    } else {
        out = ngx_http_aggregate_merge(r, ctx, &len);
        r->headers_out.status = NGX_HTTP_OK;
    }

    if (out == NULL || ngx_http_aggregate_complete(r, complete) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.content_length_n = len;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


/* {"a":<a>,"b":null,...}: the parts' values where they are */

static ngx_chain_t *
ngx_http_aggregate_group(ngx_http_request_t *r, ngx_http_aggregate_ctx_t *ctx,
    off_t *len)
{
    ngx_buf_t                      *b;
    ngx_uint_t                      i;
    ngx_chain_t                    *out, **ll;
    ngx_http_aggregate_part_ctx_t  *part;

    static u_char  null[] = "null";
    static u_char  close[] = "}";

    out = NULL;
    ll = &out;
    *len = 0;

    for (i = 0; i < ctx->conf->parts->nelts; i++) {
        part = &ctx->parts[i];

        if (ngx_http_aggregate_append(r, &ll, part->conf->key.data,
                                      part->conf->key.len)
            == NULL)
        {
            return NULL;
        }

        *len += part->conf->key.len;

        if (part->outcome == NGX_HTTP_AGGREGATE_OK) {
            if (ngx_http_aggregate_append(r, &ll, part->json.data,
                                          part->json.len)
                == NULL)
            {
                return NULL;
            }

            *len += part->json.len;

        } else {
            if (ngx_http_aggregate_append(r, &ll, null, sizeof(null) - 1)
                == NULL)
            {
                return NULL;
            }

            *len += sizeof(null) - 1;
        }
    }

    b = ngx_http_aggregate_append(r, &ll, close, sizeof(close) - 1);
    if (b == NULL) {
        return NULL;
    }

    ngx_http_aggregate_last(r, b);

    *len += sizeof(close) - 1;

    return out;
}


/* the union of the parts' objects, later parts winning */

static ngx_chain_t *
ngx_http_aggregate_merge(ngx_http_request_t *r, ngx_http_aggregate_ctx_t *ctx,
    off_t *len)
{
    u_char             *buf;
    size_t              n, size;
    ngx_buf_t          *b;
    ngx_uint_t          i;
    ngx_chain_t        *out, **ll;
    mg_allocator_t      a;
    mg_json_members_t  *objs;

    objs = ngx_palloc(r->pool,
                      ctx->conf->parts->nelts * sizeof(mg_json_members_t));
    if (objs == NULL) {
        return NULL;
    }

    n = 0;

    for (i = 0; i < ctx->conf->parts->nelts; i++) {
        if (ctx->parts[i].outcome == NGX_HTTP_AGGREGATE_OK) {
            objs[n++] = ctx->parts[i].members;
        }
    }

    size = mg_json_merge_size(objs, n);

    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NULL;
    }

    ngx_http_meshgate_pool_allocator(&a, r->pool);

    if (mg_json_merge(objs, n, buf, &size, &a) != 0) {
        return NULL;
    }

    out = NULL;
    ll = &out;
    *len = size;

    b = ngx_http_aggregate_append(r, &ll, buf, size);
    if (b == NULL) {
        return NULL;
    }

    ngx_http_aggregate_last(r, b);

    return out;
}


/*
 * Whether ngx_http_finalize_request() would answer the status with an
 * error_page of the location: the test of
 * ngx_http_special_response_handler().
 */

static ngx_uint_t
ngx_http_aggregate_error_page(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_uint_t                 i;
    ngx_http_err_page_t       *err_page;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->error_page || clcf->error_pages == NULL || r->uri_changes == 0) {
        return 0;
    }

    err_page = clcf->error_pages->elts;

    for (i = 0; i < clcf->error_pages->nelts; i++) {
        if (err_page[i].status == (ngx_int_t) status) {
            return 1;
        }
    }

    return 0;
}


/*
 * {"error":"...","part":"name","request_id":"..."}: part names need no
 * escaping, $request_id is hexadecimal.
 */

static ngx_chain_t *
ngx_http_aggregate_error(ngx_http_request_t *r,
    ngx_http_aggregate_part_ctx_t *failed, off_t *len)
{
    u_char                     *buf, *p;
    size_t                      size;
    ngx_buf_t                  *b;
    ngx_str_t                   id;
    ngx_chain_t                *out, **ll;
    ngx_http_variable_value_t  *v;

    ngx_str_null(&id);

    v = ngx_http_get_indexed_variable(r, ngx_http_aggregate_request_id);

    if (v && !v->not_found) {
        id.data = v->data;
        id.len = v->len;
    }

    size = sizeof("{\"error\":\"\",\"part\":\"\",\"request_id\":\"\"}") - 1
           + ngx_strlen(failed->reason) + failed->conf->name.len + id.len;

    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NULL;
    }

    p = ngx_sprintf(buf, "{\"error\":\"%s\",\"part\":\"%V\","
                    "\"request_id\":\"%V\"}",
                    failed->reason, &failed->conf->name, &id);

    out = NULL;
    ll = &out;
    *len = p - buf;

    b = ngx_http_aggregate_append(r, &ll, buf, p - buf);
    if (b == NULL) {
        return NULL;
    }

    ngx_http_aggregate_last(r, b);

    return out;
}


/* links a buffer of memory nobody may change */

static ngx_buf_t *
ngx_http_aggregate_append(ngx_http_request_t *r, ngx_chain_t ***ll,
    u_char *data, size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;

    cl->buf = b;
    cl->next = NULL;

    **ll = cl;
    *ll = &cl->next;

    return b;
}


static void
ngx_http_aggregate_last(ngx_http_request_t *r, ngx_buf_t *b)
{
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
}


static ngx_int_t
ngx_http_aggregate_complete(ngx_http_request_t *r, ngx_uint_t complete)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "X-Aggregate-Complete");

    if (complete) {
        ngx_str_set(&h->value, "true");

    } else {
        ngx_str_set(&h->value, "false");
    }

    h->lowcase_key = (u_char *) "x-aggregate-complete";

    return NGX_OK;
}
