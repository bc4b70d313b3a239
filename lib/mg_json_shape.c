
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: reshaping parsed JSON, see mg_json_shape.h.
 */


#include "mg_json_shape.h"


/* an array index in a path: up to 9 digits, no leading zero */
#define MG_JSON_INDEX_DIGITS  9


typedef struct {
    const mg_json_member_t  *member;
    uint32_t                 seq;
} mg_json_entry_t;


static int mg_json_name_char(unsigned char c);
static int mg_json_split(const unsigned char *s, size_t len, unsigned char sep,
    mg_str_t *out, uint32_t n, const char **err);
static int32_t mg_json_last_member(const mg_json_t *json, uint32_t obj,
    const mg_str_t *name);
static int32_t mg_json_element(const mg_json_t *json, uint32_t arr,
    const mg_str_t *name);
static unsigned char *mg_json_fields_value(const mg_json_t *json, uint32_t i,
    const mg_json_fields_t *node, unsigned char *d);
static int mg_json_container(const mg_json_t *json, uint32_t i);
static int mg_json_entry_cmp(const mg_json_entry_t *a,
    const mg_json_entry_t *b);
static void mg_json_merge_sort(mg_json_entry_t *e, uint32_t n);
static void mg_json_merge_sift(mg_json_entry_t *e, uint32_t root, uint32_t n);


static int
mg_json_name_char(unsigned char c)
{
    return c >= 0x20 && c != 0x7f && c != '.' && c != ',';
}


/* splits s at sep into exactly n non-empty names of valid characters */

static int
mg_json_split(const unsigned char *s, size_t len, unsigned char sep,
    mg_str_t *out, uint32_t n, const char **err)
{
    size_t    i, start;
    uint32_t  k;

    k = 0;
    start = 0;

    for (i = 0; i <= len; i++) {

        if (i < len && s[i] != sep) {
            if (!mg_json_name_char(s[i])) {
                *err = "invalid character in name";
                return -1;
            }

            continue;
        }

        if (i == start) {
            *err = "empty name";
            return -1;
        }

        out[k].data = s + start;
        out[k].len = i - start;
        k++;

        start = i + 1;
    }

    if (k != n) {
        *err = "invalid name list";
        return -1;
    }

    return 0;
}


int
mg_json_path_compile(mg_json_path_t *path, const unsigned char *s,
    size_t len, mg_allocator_t *a, const char **err)
{
    size_t    i;
    uint32_t  n;

    if (len == 0) {
        *err = "empty path";
        return -1;
    }

    n = 1;

    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            n++;
        }
    }

    path->names = mg_alloc(a, n * sizeof(mg_str_t));
    if (path->names == NULL) {
        *err = "out of memory";
        return -1;
    }

    path->n = n;

    return mg_json_split(s, len, '.', path->names, n, err);
}


int
mg_json_fields_compile(mg_json_fields_t *fields, const unsigned char *s,
    size_t len, mg_allocator_t *a, const char **err)
{
    size_t              i, start;
    uint32_t            k;
    mg_json_path_t      path;
    mg_json_fields_t   *node, *c, **link;

    fields->name.data = NULL;
    fields->name.len = 0;
    fields->child = NULL;
    fields->next = NULL;

    if (len == 0) {
        *err = "empty list";
        return -1;
    }

    start = 0;

    for (i = 0; i <= len; i++) {

        if (i < len && s[i] != ',') {
            continue;
        }

        if (i == start) {
            *err = "empty field";
            return -1;
        }

        if (mg_json_path_compile(&path, s + start, i - start, a, err) != 0) {
            return -1;
        }

        start = i + 1;

        /* adds the path to the tree; a whole value absorbs its parts */

        node = fields;

        for (k = 0; k < path.n; k++) {
            link = &node->child;

            for (c = node->child; c; c = c->next) {
                if (c->name.len == path.names[k].len
                    && memcmp(c->name.data, path.names[k].data, c->name.len)
                       == 0)
                {
                    break;
                }

                link = &c->next;
            }

            if (c == NULL) {
                /* a new branch: the rest of the path hangs from it */

                for ( /* void */ ; k < path.n; k++) {
                    c = mg_alloc(a, sizeof(mg_json_fields_t));
                    if (c == NULL) {
                        *err = "out of memory";
                        return -1;
                    }

                    c->name = path.names[k];
                    c->child = NULL;
                    c->next = NULL;

                    *link = c;
                    link = &c->child;
                }

                break;
            }

            if (c->child == NULL) {
                break;
            }

            if (k + 1 == path.n) {
                c->child = NULL;
                break;
            }

            node = c;
        }
    }

    return 0;
}


int32_t
mg_json_path_get(const mg_json_t *json, uint32_t i,
    const mg_json_path_t *path)
{
    int32_t   v;
    uint32_t  k;

    if (i >= json->ntoks) {
        return -1;
    }

    for (k = 0; k < path->n; k++) {

        switch (json->toks[i].type) {

        case MG_JSON_OBJECT:
            v = mg_json_last_member(json, i, &path->names[k]);
            break;

        case MG_JSON_ARRAY:
            v = mg_json_element(json, i, &path->names[k]);
            break;

        default:
            return -1;
        }

        if (v < 0) {
            return -1;
        }

        i = (uint32_t) v;
    }

    return (int32_t) i;
}


static int32_t
mg_json_last_member(const mg_json_t *json, uint32_t obj, const mg_str_t *name)
{
    int32_t   v;
    uint32_t  n, k;

    v = -1;
    k = obj + 1;

    for (n = json->toks[obj].size; n; n--) {
        if (mg_json_string_eq(json, k, name->data, name->len)) {
            v = (int32_t) (k + 1);
        }

        k = json->toks[k + 1].next;
    }

    return v;
}


static int32_t
mg_json_element(const mg_json_t *json, uint32_t arr, const mg_str_t *name)
{
    size_t    j;
    uint32_t  idx, k;

    if (name->len > MG_JSON_INDEX_DIGITS
        || (name->len > 1 && name->data[0] == '0'))
    {
        return -1;
    }

    idx = 0;

    for (j = 0; j < name->len; j++) {
        if (name->data[j] < '0' || name->data[j] > '9') {
            return -1;
        }

        idx = idx * 10 + (name->data[j] - '0');
    }

    if (idx >= json->toks[arr].size) {
        return -1;
    }

    k = arr + 1;

    while (idx--) {
        k = json->toks[k].next;
    }

    return (int32_t) k;
}


int
mg_json_fields_write(const mg_json_t *json, uint32_t i,
    const mg_json_fields_t *fields, unsigned char *dst, size_t *len)
{
    if (i >= json->ntoks || !mg_json_container(json, i)) {
        return -1;
    }

    if (fields->child == NULL) {
        *len = mg_json_compact(json, i, dst);
        return 0;
    }

    *len = mg_json_fields_value(json, i, fields, dst) - dst;

    return 0;
}


/*
 * Every byte written stands for one of value i: brackets, names and
 * values are copied or compacted, and there are never more commas than
 * between the members or elements they separate.
 */

static unsigned char *
mg_json_fields_value(const mg_json_t *json, uint32_t i,
    const mg_json_fields_t *node, unsigned char *d)
{
    int                      first;
    uint32_t                 k, v, n;
    const mg_json_tok_t     *t;
    const mg_json_fields_t  *c;

    t = &json->toks[i];
    first = 1;

    if (t->type == MG_JSON_ARRAY) {
        *d++ = '[';

        k = i + 1;

        for (n = t->size; n; n--) {
            if (mg_json_container(json, k)) {
                if (!first) {
                    *d++ = ',';
                }

                first = 0;
                d = mg_json_fields_value(json, k, node, d);
            }

            k = json->toks[k].next;
        }

        *d++ = ']';

        return d;
    }

    *d++ = '{';

    k = i + 1;

    for (n = t->size; n; n--) {
        v = k + 1;

        for (c = node->child; c; c = c->next) {
            if (mg_json_string_eq(json, k, c->name.data, c->name.len)) {
                break;
            }
        }

        if (c && (c->child == NULL || mg_json_container(json, v))) {
            if (!first) {
                *d++ = ',';
            }

            first = 0;

            memcpy(d, json->buf + json->toks[k].start,
                   json->toks[k].end - json->toks[k].start);
            d += json->toks[k].end - json->toks[k].start;

            *d++ = ':';

            if (c->child == NULL) {
                d += mg_json_compact(json, v, d);

            } else {
                d = mg_json_fields_value(json, v, c, d);
            }
        }

        k = json->toks[v].next;
    }

    *d++ = '}';

    return d;
}


static int
mg_json_container(const mg_json_t *json, uint32_t i)
{
    return json->toks[i].type == MG_JSON_OBJECT
           || json->toks[i].type == MG_JSON_ARRAY;
}


int
mg_json_members(const mg_json_t *json, uint32_t obj,
    mg_json_members_t *members, mg_allocator_t *a)
{
    uint32_t              n, k, v;
    unsigned char        *p;
    mg_json_member_t     *m;
    const mg_json_tok_t  *key, *val;

    if (obj >= json->ntoks || json->toks[obj].type != MG_JSON_OBJECT) {
        return -1;
    }

    members->n = json->toks[obj].size;
    members->members = NULL;

    if (members->n == 0) {
        return 0;
    }

    members->members = mg_alloc(a, members->n * sizeof(mg_json_member_t));
    if (members->members == NULL) {
        return -1;
    }

    k = obj + 1;

    for (n = 0; n < members->n; n++) {
        v = k + 1;
        key = &json->toks[k];
        val = &json->toks[v];
        m = &members->members[n];

        m->key.data = json->buf + key->start;
        m->key.len = key->end - key->start;
        m->value.data = json->buf + val->start;
        m->value.len = val->end - val->start;

        if (key->flags & MG_JSON_ESCAPED) {
            p = mg_alloc(a, m->key.len);
            if (p == NULL) {
                return -1;
            }

            m->name.data = p;
            m->name.len = mg_json_string(json, k, p);

        } else {
            m->name.data = m->key.data + 1;
            m->name.len = m->key.len - 2;
        }

        k = val->next;
    }

    return 0;
}


size_t
mg_json_merge_size(const mg_json_members_t *objs, size_t n)
{
    size_t    size, i;
    uint32_t  j;

    size = 2;

    for (i = 0; i < n; i++) {
        for (j = 0; j < objs[i].n; j++) {
            size += objs[i].members[j].key.len
                    + objs[i].members[j].value.len + 2;
        }
    }

    return size;
}


/*
 * Sorting by name, then by position, puts the members of each name
 * together, the first one first and the last one last: the first tells
 * where the name goes, the last what it holds.  Sorting, not hashing,
 * keeps the work n log n whatever names the parts send.
 */

int
mg_json_merge(const mg_json_members_t *objs, size_t n, unsigned char *dst,
    size_t *len, mg_allocator_t *a)
{
    int                       first;
    size_t                    i;
    uint32_t                  total, j, k, seq;
    unsigned char            *d;
    mg_json_entry_t          *e;
    const mg_json_member_t   *m, **win;

    total = 0;

    for (i = 0; i < n; i++) {
        total += objs[i].n;
    }

    d = dst;
    *d++ = '{';

    if (total == 0) {
        *d++ = '}';
        *len = d - dst;
        return 0;
    }

    e = mg_alloc(a, total * sizeof(mg_json_entry_t));
    win = mg_alloc(a, total * sizeof(mg_json_member_t *));

    if (e == NULL || win == NULL) {
        return -1;
    }

    seq = 0;

    for (i = 0; i < n; i++) {
        for (j = 0; j < objs[i].n; j++) {
            e[seq].member = &objs[i].members[j];
            e[seq].seq = seq;
            win[seq] = NULL;
            seq++;
        }
    }

    mg_json_merge_sort(e, total);

    for (j = 0; j < total; j = k) {
        for (k = j + 1; k < total; k++) {
            if (e[k].member->name.len != e[j].member->name.len
                || memcmp(e[k].member->name.data, e[j].member->name.data,
                          e[j].member->name.len)
                   != 0)
            {
                break;
            }
        }

        win[e[j].seq] = e[k - 1].member;
    }

    first = 1;
    seq = 0;

    for (i = 0; i < n; i++) {
        for (j = 0; j < objs[i].n; j++, seq++) {
            if (win[seq] == NULL) {
                continue;
            }

            if (!first) {
                *d++ = ',';
            }

            first = 0;

            m = &objs[i].members[j];

            memcpy(d, m->key.data, m->key.len);
            d += m->key.len;
            *d++ = ':';
            memcpy(d, win[seq]->value.data, win[seq]->value.len);
            d += win[seq]->value.len;
        }
    }

    *d++ = '}';
    *len = d - dst;

    return 0;
}


static int
mg_json_entry_cmp(const mg_json_entry_t *a, const mg_json_entry_t *b)
{
    int     rc;
    size_t  la, lb;

    la = a->member->name.len;
    lb = b->member->name.len;

    rc = memcmp(a->member->name.data, b->member->name.data,
                la < lb ? la : lb);

    if (rc == 0) {
        rc = (la > lb) - (la < lb);
    }

    if (rc == 0) {
        rc = (a->seq > b->seq) - (a->seq < b->seq);
    }

    return rc;
}


/* heapsort: no recursion, no scratch memory, n log n at worst */

static void
mg_json_merge_sort(mg_json_entry_t *e, uint32_t n)
{
    uint32_t         i;
    mg_json_entry_t  tmp;

    for (i = n / 2; i-- > 0; /* void */) {
        mg_json_merge_sift(e, i, n);
    }

    for (i = n - 1; i > 0; i--) {
        tmp = e[0];
        e[0] = e[i];
        e[i] = tmp;

        mg_json_merge_sift(e, 0, i);
    }
}


static void
mg_json_merge_sift(mg_json_entry_t *e, uint32_t root, uint32_t n)
{
    uint32_t         child;
    mg_json_entry_t  tmp;

    for ( ;; ) {
        child = 2 * root + 1;

        if (child >= n) {
            return;
        }

        if (child + 1 < n && mg_json_entry_cmp(&e[child], &e[child + 1]) < 0)
        {
            child++;
        }

        if (mg_json_entry_cmp(&e[root], &e[child]) >= 0) {
            return;
        }

        tmp = e[root];
        e[root] = e[child];
        e[child] = tmp;

        root = child;
    }
}


int
mg_json_text(const mg_json_t *json, uint32_t i, unsigned char *dst,
    size_t *len)
{
    const mg_json_tok_t  *t;

    if (i >= json->ntoks) {
        return -1;
    }

    t = &json->toks[i];

    switch (t->type) {

    case MG_JSON_STRING:
        *len = mg_json_string(json, i, dst);
        return 0;

    case MG_JSON_NUMBER:
    case MG_JSON_TRUE:
    case MG_JSON_FALSE:
        memcpy(dst, json->buf + t->start, t->end - t->start);
        *len = t->end - t->start;
        return 0;

    default:
        return -1;
    }
}
