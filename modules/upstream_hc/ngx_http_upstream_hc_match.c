
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: `match` blocks, the tests a response to a health check must
 * pass, and their verdict on a response.
 *
 *     status 200;  status ! 500;  status 200 204;  status 200-399 418;
 *     header Name;  header ! Name;  header Name = value;
 *     header Name != value;  header Name ~ regex;  header Name !~ regex;
 *     body ~ regex;  body !~ regex;
 *
 * A response matches when it passes every test.  A header test with a
 * value or regex is passed by the response when one of its fields of
 * that name (compared case-insensitively) passes it; a field's value is
 * compared as sent, case-sensitively.  Body tests look at the first
 * NGX_HTTP_UPSTREAM_HC_BODY bytes of the body.  Without a match, a check
 * passes a response with a 2xx or 3xx status.
 */


#include "ngx_http_upstream_hc_module.h"


static char *ngx_http_upstream_hc_match_line(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_upstream_hc_status(ngx_conf_t *cf,
    ngx_http_upstream_hc_cond_t *cond);
static char *ngx_http_upstream_hc_header(ngx_conf_t *cf,
    ngx_http_upstream_hc_cond_t *cond);
static char *ngx_http_upstream_hc_body(ngx_conf_t *cf,
    ngx_http_upstream_hc_cond_t *cond);
static ngx_int_t ngx_http_upstream_hc_regex(ngx_conf_t *cf,
    ngx_http_upstream_hc_cond_t *cond, ngx_str_t *pattern);
static ngx_int_t ngx_http_upstream_hc_code(ngx_str_t *s, size_t len);
static ngx_int_t ngx_http_upstream_hc_test_status(
    ngx_http_upstream_hc_cond_t *cond, ngx_uint_t status);
static ngx_int_t ngx_http_upstream_hc_test_header(
    ngx_http_upstream_hc_cond_t *cond, mg_http_response_t *resp);
static ngx_int_t ngx_http_upstream_hc_test_value(
    ngx_http_upstream_hc_cond_t *cond, const mg_str_t *value);


/*
 * The verdict on a response: NGX_OK when it passes the check, otherwise
 * NGX_DECLINED with the reason, for the log, in reason (len bytes, NUL
 * terminated either way).
 */

ngx_int_t
ngx_http_upstream_hc_test(ngx_http_upstream_hc_check_t *check,
    mg_http_response_t *resp, ngx_str_t *body, u_char *reason, size_t len)
{
    mg_str_t                       value;
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_http_upstream_hc_cond_t   *cond;
    ngx_http_upstream_hc_match_t  *match;

    match = check->match;

    if (match == NULL) {
        ngx_snprintf(reason, len, "status %ui%Z", (ngx_uint_t) resp->status);
        reason[len - 1] = '\0';

        return (resp->status >= 200 && resp->status < 400) ? NGX_OK
                                                           : NGX_DECLINED;
    }

    cond = match->conds.elts;

    for (i = 0; i < match->conds.nelts; i++) {

        switch (cond[i].test) {

        case NGX_HTTP_UPSTREAM_HC_STATUS:
            rc = ngx_http_upstream_hc_test_status(&cond[i], resp->status);
            break;

        case NGX_HTTP_UPSTREAM_HC_HEADER:
            rc = ngx_http_upstream_hc_test_header(&cond[i], resp);
            break;

        default: /* NGX_HTTP_UPSTREAM_HC_BODY_TEST */
            value.data = body->data;
            value.len = body->len;
            rc = ngx_http_upstream_hc_test_value(&cond[i], &value);
            break;
        }

        if (rc != NGX_OK) {
            ngx_snprintf(reason, len,
                         "status %ui, \"%V\" of match \"%V\" fails%Z",
                         (ngx_uint_t) resp->status, &cond[i].text,
                         &match->name);
            reason[len - 1] = '\0';

            return NGX_DECLINED;
        }
    }

    ngx_snprintf(reason, len, "status %ui, match \"%V\"%Z",
                 (ngx_uint_t) resp->status, &match->name);
    reason[len - 1] = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_http_upstream_hc_test_status(ngx_http_upstream_hc_cond_t *cond,
    ngx_uint_t status)
{
    ngx_uint_t  i, in;

    in = 0;

    for (i = 0; i < cond->nranges; i++) {
        if (status >= cond->ranges[i].low && status <= cond->ranges[i].high) {
            in = 1;
            break;
        }
    }

    return (in != cond->negative) ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_upstream_hc_test_header(ngx_http_upstream_hc_cond_t *cond,
    mg_http_response_t *resp)
{
    size_t                   i;
    const mg_http_header_t  *h;

    i = 0;

    h = mg_http_find_header(resp, cond->name.data, cond->name.len, &i);

    if (cond->op == NGX_HTTP_UPSTREAM_HC_PRESENT) {
        return h ? NGX_OK : NGX_DECLINED;
    }

    if (cond->op == NGX_HTTP_UPSTREAM_HC_ABSENT) {
        return h ? NGX_DECLINED : NGX_OK;
    }

    while (h) {
        if (ngx_http_upstream_hc_test_value(cond, &h->value) == NGX_OK) {
            return NGX_OK;
        }

        h = mg_http_find_header(resp, cond->name.data, cond->name.len, &i);
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_upstream_hc_test_value(ngx_http_upstream_hc_cond_t *cond,
    const mg_str_t *value)
{
    ngx_int_t  rc;
    ngx_str_t  s;

    switch (cond->op) {

    case NGX_HTTP_UPSTREAM_HC_EQUAL:
    case NGX_HTTP_UPSTREAM_HC_NOT_EQUAL:

        rc = (value->len == cond->value.len
              && ngx_memcmp(value->data, cond->value.data, value->len) == 0);

        return (rc == (cond->op == NGX_HTTP_UPSTREAM_HC_EQUAL))
               ? NGX_OK : NGX_DECLINED;

    default: /* NGX_HTTP_UPSTREAM_HC_MATCH, NGX_HTTP_UPSTREAM_HC_NOT_MATCH */

        s.data = (u_char *) value->data;
        s.len = value->len;

        rc = ngx_regex_exec(cond->regex, &s, NULL, 0);

        if (rc < NGX_REGEX_NO_MATCHED) {

            /* the regex could not be run (its match limit): no verdict */

            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          ngx_regex_exec_n " failed: %i on \"%V\" in a "
                          "health check", rc, &cond->text);
            return NGX_DECLINED;
        }

        return ((rc >= 0) == (cond->op == NGX_HTTP_UPSTREAM_HC_MATCH))
               ? NGX_OK : NGX_DECLINED;
    }
}


char *
ngx_http_upstream_hc_match_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_upstream_hc_main_conf_t *hmcf = conf;

    char                           *rv;
    ngx_str_t                      *value;
    ngx_conf_t                      save;
    ngx_uint_t                      i;
    ngx_http_upstream_hc_match_t   *match, **matches;

    value = cf->args->elts;

    matches = hmcf->matches.elts;

    for (i = 0; i < hmcf->matches.nelts; i++) {
        if (matches[i]->name.len == value[1].len
            && ngx_strncmp(matches[i]->name.data, value[1].data,
                           value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate \"match\" name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"match\" has an empty name");
        return NGX_CONF_ERROR;
    }

    match = ngx_pcalloc(cf->pool, sizeof(ngx_http_upstream_hc_match_t));
    if (match == NULL) {
        return NGX_CONF_ERROR;
    }

    match->name = value[1];

    if (ngx_array_init(&match->conds, cf->pool, 2,
                       sizeof(ngx_http_upstream_hc_cond_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    matches = ngx_array_push(&hmcf->matches);
    if (matches == NULL) {
        return NGX_CONF_ERROR;
    }

    *matches = match;

    save = *cf;
    cf->handler = ngx_http_upstream_hc_match_line;
    cf->handler_conf = (void *) match;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    return rv;
}


static char *
ngx_http_upstream_hc_match_line(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf)
{
    ngx_http_upstream_hc_match_t *match = conf;

    u_char                       *p;
    size_t                        len;
    ngx_str_t                    *value;
    ngx_uint_t                    i;
    ngx_http_upstream_hc_cond_t  *cond;

    value = cf->args->elts;

    cond = ngx_array_push(&match->conds);
    if (cond == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(cond, sizeof(ngx_http_upstream_hc_cond_t));

    /* the line as written, for the log */

    len = 0;

    for (i = 0; i < cf->args->nelts; i++) {
        len += value[i].len + 1;
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    cond->text.data = p;

    for (i = 0; i < cf->args->nelts; i++) {
        if (i) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, value[i].data, value[i].len);
    }

    cond->text.len = p - cond->text.data;

    if (value[0].len == 6 && ngx_strncmp(value[0].data, "status", 6) == 0) {
        return ngx_http_upstream_hc_status(cf, cond);
    }

    if (value[0].len == 6 && ngx_strncmp(value[0].data, "header", 6) == 0) {
        return ngx_http_upstream_hc_header(cf, cond);
    }

    if (value[0].len == 4 && ngx_strncmp(value[0].data, "body", 4) == 0) {
        match->body = 1;
        return ngx_http_upstream_hc_body(cf, cond);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown test \"%V\" in \"match\" \"%V\": use "
                       "\"status\", \"header\" or \"body\"",
                       &value[0], &match->name);
    return NGX_CONF_ERROR;
}


/* status [!] code|low-high ... */

static char *
ngx_http_upstream_hc_status(ngx_conf_t *cf, ngx_http_upstream_hc_cond_t *cond)
{
    u_char                        *dash;
    ngx_int_t                      low, high;
    ngx_str_t                     *value, s;
    ngx_uint_t                     i, first;
    ngx_http_upstream_hc_range_t  *range;

    value = cf->args->elts;

    cond->test = NGX_HTTP_UPSTREAM_HC_STATUS;

    first = 1;

    if (cf->args->nelts > 1 && value[1].len == 1 && value[1].data[0] == '!') {
        cond->negative = 1;
        first = 2;
    }

    if (first >= cf->args->nelts) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"status\" needs at least one status code");
        return NGX_CONF_ERROR;
    }

    cond->ranges = ngx_palloc(cf->pool,
                              (cf->args->nelts - first)
                              * sizeof(ngx_http_upstream_hc_range_t));
    if (cond->ranges == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = first; i < cf->args->nelts; i++) {
        dash = ngx_strlchr(value[i].data, value[i].data + value[i].len, '-');

        low = ngx_http_upstream_hc_code(&value[i],
                                        dash ? (size_t) (dash - value[i].data)
                                             : value[i].len);
        high = low;

        if (dash) {
            s.data = dash + 1;
            s.len = value[i].data + value[i].len - s.data;

            high = ngx_http_upstream_hc_code(&s, s.len);
        }

        if (low == NGX_ERROR || high == NGX_ERROR || low > high) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"status\" has an invalid code or range "
                               "\"%V\": use 100 to 999, or low-high",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        range = &cond->ranges[cond->nranges++];
        range->low = low;
        range->high = high;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_upstream_hc_code(ngx_str_t *s, size_t len)
{
    ngx_int_t  n;

    if (len != 3) {
        return NGX_ERROR;
    }

    n = ngx_atoi(s->data, len);

    if (n < 100 || n > 999) {
        return NGX_ERROR;
    }

    return n;
}


/* header [!] Name [= | != | ~ | !~ value] */

static char *
ngx_http_upstream_hc_header(ngx_conf_t *cf, ngx_http_upstream_hc_cond_t *cond)
{
    u_char     *p, *last;
    ngx_str_t  *value, *op;

    value = cf->args->elts;

    cond->test = NGX_HTTP_UPSTREAM_HC_HEADER;

    switch (cf->args->nelts) {

    case 2:
        cond->op = NGX_HTTP_UPSTREAM_HC_PRESENT;
        cond->name = value[1];
        break;

    case 3:
        if (value[1].len != 1 || value[1].data[0] != '!') {
            goto invalid;
        }

        cond->op = NGX_HTTP_UPSTREAM_HC_ABSENT;
        cond->name = value[2];
        break;

    case 4:
        cond->name = value[1];
        cond->value = value[3];
        op = &value[2];

        if (op->len == 1 && op->data[0] == '=') {
            cond->op = NGX_HTTP_UPSTREAM_HC_EQUAL;

        } else if (op->len == 2 && ngx_strncmp(op->data, "!=", 2) == 0) {
            cond->op = NGX_HTTP_UPSTREAM_HC_NOT_EQUAL;

        } else if (op->len == 1 && op->data[0] == '~') {
            cond->op = NGX_HTTP_UPSTREAM_HC_MATCH;

        } else if (op->len == 2 && ngx_strncmp(op->data, "!~", 2) == 0) {
            cond->op = NGX_HTTP_UPSTREAM_HC_NOT_MATCH;

        } else {
            goto invalid;
        }

        break;

    default:
        goto invalid;
    }

    /* a field name is a token */

    last = cond->name.data + cond->name.len;

    for (p = cond->name.data; p < last; p++) {
        if (*p <= ' ' || *p >= 0x7f || ngx_strchr("\"(),/:;<=>?@[\\]{}", *p))
        {
            break;
        }
    }

    if (cond->name.len == 0 || p < last) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"header\" has an invalid field name \"%V\"",
                           &cond->name);
        return NGX_CONF_ERROR;
    }

    if (cond->op == NGX_HTTP_UPSTREAM_HC_MATCH
        || cond->op == NGX_HTTP_UPSTREAM_HC_NOT_MATCH)
    {
        if (ngx_http_upstream_hc_regex(cf, cond, &cond->value) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"header\" test \"%V\": use \"header Name;\", "
                       "\"header ! Name;\" or \"header Name =|!=|~|!~ "
                       "value;\"", &cond->text);
    return NGX_CONF_ERROR;
}


/* body ~|!~ regex */

static char *
ngx_http_upstream_hc_body(ngx_conf_t *cf, ngx_http_upstream_hc_cond_t *cond)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    cond->test = NGX_HTTP_UPSTREAM_HC_BODY_TEST;

    if (cf->args->nelts != 3) {
        goto invalid;
    }

    if (value[1].len == 1 && value[1].data[0] == '~') {
        cond->op = NGX_HTTP_UPSTREAM_HC_MATCH;

    } else if (value[1].len == 2 && ngx_strncmp(value[1].data, "!~", 2) == 0) {
        cond->op = NGX_HTTP_UPSTREAM_HC_NOT_MATCH;

    } else {
        goto invalid;
    }

    if (ngx_http_upstream_hc_regex(cf, cond, &value[2]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"body\" test \"%V\": use \"body ~ regex;\" "
                       "or \"body !~ regex;\"", &cond->text);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_upstream_hc_regex(ngx_conf_t *cf, ngx_http_upstream_hc_cond_t *cond,
    ngx_str_t *pattern)
{
    u_char               errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t  rc;

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern = *pattern;
    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" has an invalid regular expression: %V",
                           &((ngx_str_t *) cf->args->elts)[0], &rc.err);
        return NGX_ERROR;
    }

    cond->regex = rc.regex;

    return NGX_OK;
}
