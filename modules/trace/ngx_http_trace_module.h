
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: W3C Trace Context, the parts of the module its files share.
 *
 *   ngx_http_trace_module.c     the trace of a request (ids, variables),
 *                               trace_propagate, trace_incoming,
 *                               configuration, init
 *   ngx_http_trace_propagate.c  the trace headers an upstream receives:
 *                               the traceparent of trace_propagate, none of
 *                               the client's with trace_incoming off
 */


#ifndef _NGX_HTTP_TRACE_MODULE_H_INCLUDED_
#define _NGX_HTTP_TRACE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_meshgate.h"
#include "mg_traceparent.h"


/*
 * Random bytes a worker takes from OpenSSL at a time: one RAND_bytes()
 * call costs about as much as 50 of its bytes, and a new trace needs 24.
 */
#define NGX_HTTP_TRACE_RANDOM_SIZE  4096


/*
 * The trace of a main request and its subrequests, which are one hop: they
 * share the trace id and the span id.  It lives as long as the request's
 * pool and survives internal redirects, which clear module contexts.
 */
typedef struct {
    /* "00-<trace-id>-<span-id>-<flags>", what goes upstream */
    u_char                      traceparent[MG_TRACEPARENT_LEN];
    /* the incoming parent-id, in hex; unused for a new trace */
    u_char                      parent[2 * MG_SPAN_ID_LEN];

    /* the main request's headers as they came */
    ngx_list_t                  original;
    /* the elements of the main request's rewritten headers, or NULL */
    void                       *rewritten;

    unsigned                    continued:1;   /* a valid traceparent came */
    unsigned                    propagated:1;  /* some headers rewritten */
} ngx_http_trace_ctx_t;


typedef struct {
    u_char                     *pos;        /* random bytes not yet used */
    u_char                     *last;
    ngx_pid_t                   pid;        /* the process they are for */

    ngx_uint_t                  hash;       /* of "traceparent" */
    ngx_flag_t                  propagate;  /* "trace_propagate on" seen */
    ngx_flag_t                  ignore;     /* "trace_incoming off" seen */

    u_char                      random[NGX_HTTP_TRACE_RANDOM_SIZE];
} ngx_http_trace_main_conf_t;


/*
 * Per server, not per location: the trace is computed once per request,
 * on first use, and is the same in every location the request passes
 * through; the server is chosen (by Host) before any of them.
 */
typedef struct {
    ngx_flag_t                  incoming;
} ngx_http_trace_srv_conf_t;


typedef struct {
    ngx_flag_t                  propagate;
} ngx_http_trace_loc_conf_t;


extern ngx_module_t  ngx_http_trace_module;


/*
 * The trace of r's main request; computed on first use when create is
 * set, otherwise NULL until then.  NULL with create set: no memory or no
 * randomness, logged.
 */
ngx_http_trace_ctx_t *ngx_http_trace_get_ctx(ngx_http_request_t *r,
    ngx_uint_t create);

ngx_int_t ngx_http_trace_propagate_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_trace_incoming_handler(ngx_http_request_t *r);

/* 1 when h is a traceparent (name) header; tracestate likewise */
ngx_uint_t ngx_http_trace_is_traceparent(ngx_table_elt_t *h);
ngx_uint_t ngx_http_trace_is_tracestate(ngx_table_elt_t *h);


#endif /* _NGX_HTTP_TRACE_MODULE_H_INCLUDED_ */
