
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: subrequest bodies kept in memory.
 *
 * nginx's own NGX_HTTP_SUBREQUEST_IN_MEMORY is bounded by the key
 * location's subrequest_output_buffer_size (one page by default), and a
 * larger body ends the whole main request.  This body filter takes the
 * body of a subrequest marked with ngx_http_meshgate_capture() before it
 * reaches the postpone filter, up to a limit the caller chooses, and lets
 * the caller decide what an oversized body means.
 *
 * The filter may sit above the copy filter (it does in a static build, and
 * in a dynamic one when other filter modules load earlier), so it reads
 * file buffers itself, as the copy filter would.
 *
 * An internal redirect of the subrequest (error_page, try_files,
 * X-Accel-Redirect, a named location) clears its module contexts, and the
 * body of the new location would go nowhere.  So the capture also stands
 * in for the subrequest's post-subrequest handler, which a redirect keeps,
 * and is found there again.
 */


#include "ngx_http_meshgate.h"


#define NGX_HTTP_MESHGATE_CAPTURE_MIN  4096


static ngx_int_t ngx_http_meshgate_capture_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_meshgate_capture_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_meshgate_capture_buf(ngx_http_request_t *r,
    ngx_http_meshgate_capture_t *cap, ngx_buf_t *b);
static ngx_int_t ngx_http_meshgate_capture_grow(ngx_http_request_t *r,
    ngx_http_meshgate_capture_t *cap, size_t len);


static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;


ngx_http_meshgate_capture_t *
ngx_http_meshgate_capture(ngx_http_request_t *sr, size_t limit)
{
    ngx_http_meshgate_capture_t  *cap;

    cap = ngx_pcalloc(sr->pool, sizeof(ngx_http_meshgate_capture_t));
    if (cap == NULL) {
        return NULL;
    }

    cap->limit = limit;
    cap->post_subrequest = sr->post_subrequest;

    cap->ps.handler = ngx_http_meshgate_capture_done;
    cap->ps.data = cap;
    sr->post_subrequest = &cap->ps;

    ngx_http_set_ctx(sr, cap, ngx_http_meshgate_module);

    return cap;
}


static ngx_int_t
ngx_http_meshgate_capture_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_meshgate_capture_t  *cap = data;

    if (cap->post_subrequest == NULL) {
        return rc;
    }

    return cap->post_subrequest->handler(r, cap->post_subrequest->data, rc);
}


static ngx_int_t
ngx_http_meshgate_capture_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t                  *cl;
    ngx_http_meshgate_capture_t  *cap;

    if (r == r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    cap = ngx_http_get_module_ctx(r, ngx_http_meshgate_module);

    if (cap == NULL) {

        /* after an internal redirect */

        if (r->post_subrequest == NULL
            || r->post_subrequest->handler != ngx_http_meshgate_capture_done)
        {
            return ngx_http_next_body_filter(r, in);
        }

        cap = r->post_subrequest->data;

        ngx_http_set_ctx(r, cap, ngx_http_meshgate_module);
    }

    for (cl = in; cl; cl = cl->next) {

        if (ngx_http_meshgate_capture_buf(r, cap, cl->buf) != NGX_OK) {
            return NGX_ERROR;
        }

        if (cl->buf->last_buf || cl->buf->last_in_chain) {
            cap->done = 1;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_meshgate_capture_buf(ngx_http_request_t *r,
    ngx_http_meshgate_capture_t *cap, ngx_buf_t *b)
{
    off_t    size;
    size_t   len;
    ssize_t  n;

    if (ngx_buf_in_memory(b)) {
        len = b->last - b->pos;

    } else if (b->in_file) {
        size = b->file_last - b->file_pos;
        len = (size_t) size;

    } else {
        return NGX_OK;
    }

    if (len == 0 || cap->overflow || cap->error) {
        goto consumed;
    }

    if (len > cap->limit - cap->len) {
        cap->overflow = 1;
        goto consumed;
    }

    if (cap->len + len > cap->size
        && ngx_http_meshgate_capture_grow(r, cap, len) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_buf_in_memory(b)) {
        ngx_memcpy(cap->data + cap->len, b->pos, len);

    } else {
        n = ngx_read_file(b->file, cap->data + cap->len, len, b->file_pos);

        if (n != (ssize_t) len) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "reading the subrequest body from \"%V\" failed",
                          &b->file->name);
            cap->error = 1;
            goto consumed;
        }
    }

    cap->len += len;

consumed:

    b->pos = b->last;

    if (b->in_file) {
        b->file_pos = b->file_last;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_meshgate_capture_grow(ngx_http_request_t *r,
    ngx_http_meshgate_capture_t *cap, size_t len)
{
    u_char  *p;
    size_t   size;
    off_t    n;

    n = r->headers_out.content_length_n;

    /* a known length is allocated at once; otherwise double */

    if (cap->size == 0 && n > 0 && (size_t) n <= cap->limit) {
        size = (size_t) n;

    } else {
        size = ngx_max(cap->size * 2, NGX_HTTP_MESHGATE_CAPTURE_MIN);
    }

    size = ngx_max(size, cap->len + len);
    size = ngx_min(size, cap->limit);

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (cap->len) {
        ngx_memcpy(p, cap->data, cap->len);
    }

    cap->data = p;
    cap->size = size;

    return NGX_OK;
}


ngx_int_t
ngx_http_meshgate_capture_init(ngx_conf_t *cf)
{
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_meshgate_capture_body_filter;

    return NGX_OK;
}
