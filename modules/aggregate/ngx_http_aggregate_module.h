
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: aggregate, what its files share.
 */


#ifndef _NGX_HTTP_AGGREGATE_MODULE_H_INCLUDED_
#define _NGX_HTTP_AGGREGATE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_meshgate.h"
#include "mg_json.h"
#include "mg_json_shape.h"


#define NGX_HTTP_AGGREGATE_GROUP      0
#define NGX_HTTP_AGGREGATE_MERGE      1

/* a part nested deeper than this is not valid JSON for aggregate */
#define NGX_HTTP_AGGREGATE_MAX_DEPTH  256


/* what became of a part, as reported for metrics */
typedef enum {
    NGX_HTTP_AGGREGATE_OK = 0,
    NGX_HTTP_AGGREGATE_STATUS,
    NGX_HTTP_AGGREGATE_INVALID,
    NGX_HTTP_AGGREGATE_TOO_LARGE,
    NGX_HTTP_AGGREGATE_TIMEOUT,
    NGX_HTTP_AGGREGATE_ERROR,
    NGX_HTTP_AGGREGATE_SKIPPED
} ngx_http_aggregate_outcome_e;


/* where a part is within a request */
typedef enum {
    NGX_HTTP_AGGREGATE_PENDING = 0,   /* waits for the parts it uses */
    NGX_HTTP_AGGREGATE_RUNNING,       /* its subrequest is under way */
    NGX_HTTP_AGGREGATE_FINISHED,      /* its subrequest ended, unread */
    NGX_HTTP_AGGREGATE_DONE           /* its outcome is known */
} ngx_http_aggregate_state_e;


/* "$name=part.path": a value of an earlier part, for the uri of a later */
typedef struct {
    ngx_str_t                        name;      /* without "$" */
    ngx_int_t                        index;     /* of the variable */
    ngx_str_t                        spec;      /* "part.path" */
    ngx_str_t                        source_name;
    ngx_uint_t                       source;
    mg_json_path_t                   path;
} ngx_http_aggregate_binding_t;


/*
 * A piece of a part's uri: text as written (percent-encoded where it had
 * to be), or a variable, whose value is percent-encoded when the uri is
 * made, so that it stays within one path segment or one query value.
 */
typedef struct {
    ngx_str_t                        text;
    ngx_http_complex_value_t        *value;     /* NULL: text */
    ngx_str_t                        name;      /* of a named variable */
    ngx_uint_t                       binding;   /* NGX_CONF_UNSET_UINT, or
                                                   a value of an earlier
                                                   part, encoded already */
} ngx_http_aggregate_elt_t;


typedef struct {
    ngx_str_t                        name;
    ngx_str_t                        key;       /* {"name": or ,"name": */
    ngx_str_t                        uri;       /* as configured */
    ngx_array_t                     *elts;      /* of the uri */
    ngx_uint_t                       args;      /* the first element after
                                                   the "?", or
                                                   NGX_CONF_UNSET_UINT */
    ngx_msec_t                       timeout;   /* 0: none of its own */
    mg_json_path_t                  *path;
    mg_json_fields_t                *fields;
    ngx_array_t                     *bindings;  /* ngx_uint_t: indexes */
    u_char                          *file;
    ngx_uint_t                       line;
    unsigned                         optional:1;
    unsigned                         source:1;  /* a later part uses it */
} ngx_http_aggregate_part_t;


typedef struct {
    ngx_flag_t                       used;      /* an aggregate directive */
} ngx_http_aggregate_main_conf_t;


typedef struct {
    ngx_array_t                     *parts;     /* ngx_http_aggregate_part_t */
    ngx_array_t                     *bindings;
    ngx_uint_t                       mode;
    ngx_msec_t                       timeout;
    size_t                           buffer_size;
} ngx_http_aggregate_loc_conf_t;


typedef struct ngx_http_aggregate_ctx_s  ngx_http_aggregate_ctx_t;


typedef struct {
    ngx_http_aggregate_ctx_t        *ctx;
    ngx_http_aggregate_part_t       *conf;
    ngx_http_request_t              *sr;
    ngx_str_t                        uri;       /* the path it was given */
    ngx_http_meshgate_capture_t     *body;
    ngx_event_t                      timer;

    ngx_str_t                        json;      /* group: what is answered */
    mg_json_members_t                members;   /* merge */
    const char                      *reason;    /* of a failure */
    const char                      *detail;    /* for the log */

    ngx_int_t                        rc;        /* of the subrequest */
    ngx_int_t                        error;     /* nginx's code for it */
    ngx_uint_t                       state;
    ngx_uint_t                       outcome;
} ngx_http_aggregate_part_ctx_t;


struct ngx_http_aggregate_ctx_s {
    ngx_http_request_t              *request;
    ngx_http_aggregate_loc_conf_t   *conf;
    ngx_http_aggregate_part_ctx_t   *parts;
    ngx_str_t                       *values;    /* of the bindings */
    ngx_http_cleanup_t              *cleanup;
    ngx_event_t                      deadline;
    unsigned                         done:1;
};


/* ngx_http_aggregate_handler.c */
ngx_int_t ngx_http_aggregate_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_aggregate_precontent(ngx_http_request_t *r);
size_t ngx_http_aggregate_escape(u_char *dst, u_char *src, size_t len);

/* ngx_http_aggregate_body.c */
const char *ngx_http_aggregate_text(ngx_http_request_t *r, ngx_str_t *s);
void ngx_http_aggregate_read(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, ngx_http_aggregate_part_ctx_t *part);
void ngx_http_aggregate_set(ngx_http_request_t *r,
    ngx_http_aggregate_part_ctx_t *part, ngx_uint_t outcome,
    const char *reason);
ngx_int_t ngx_http_aggregate_send(ngx_http_request_t *r,
    ngx_http_aggregate_ctx_t *ctx, ngx_http_aggregate_part_ctx_t *failed);


extern ngx_int_t     ngx_http_aggregate_request_id;
extern ngx_module_t  ngx_http_aggregate_module;


#endif /* _NGX_HTTP_AGGREGATE_MODULE_H_INCLUDED_ */
