// Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
// The njs peer of "aggregate", for bench/aggregate/run.
//
// The same composition as the aggregate locations of the benchmark: three
// subrequests started together (r.subrequest() without a callback returns
// a promise), Promise.all() for all three, each answer parsed as JSON
// (what the module validates), a part that failed becomes null, and one
// JSON document out.  This is how such a composition is written in njs.
//
// Where the parts are is $compose_prefix (set in the location), so that
// the same function serves the parts answered by nginx itself and the
// proxied, delayed ones.

async function compose(r) {
    const prefix = r.variables.compose_prefix;
    const id = r.args.id || '1';
    const names = ['product', 'reviews', 'stock'];

    const replies = await Promise.all(names.map(
        (name) => r.subrequest(prefix + name + '/' + id)));

    const out = {};

    replies.forEach((reply, i) => {
        let value = null;

        if (reply.status >= 200 && reply.status < 300) {
            try {
                value = JSON.parse(reply.responseText);
            } catch (e) {
                value = null;
            }
        }

        out[names[i]] = value;
    });

    r.headersOut['Content-Type'] = 'application/json';
    r.return(200, JSON.stringify(out));
}

// the backend of the latency scenarios: answers after ?ms= milliseconds
function delayed(r) {
    const ms = Number(r.args.ms || 0);

    setTimeout(() => {
        r.headersOut['Content-Type'] = 'application/json';
        r.return(200, JSON.stringify({ part: r.uri, delay_ms: ms }));
    }, ms);
}

export default { compose, delayed };
