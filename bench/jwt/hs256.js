// Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
// The njs peer of "auth_jwt" with an HS256 key, for bench/jwt/run.
//
// It does what the module does for such a token: split it, check the header
// names HS256, compute and compare the HMAC, parse the claims and check exp
// and nbf (with a leeway).  It is used through js_set, which nginx evaluates
// once per request from an "if" in the rewrite phase: no subrequest, so this
// is the cheapest faithful way to put a JWT check in njs in front of
// proxy_pass (auth_request would add a whole subrequest per request).
//
// The secret (base64url) is substituted for @SECRET@ by the benchmark.

const crypto = require('crypto');

const key = Buffer.from('@SECRET@', 'base64url');
const leeway = 0;

function decode(part) {
    return JSON.parse(Buffer.from(part, 'base64url').toString());
}

// "1": a valid token; "0": anything else
function verify(r) {
    const auth = r.headersIn.Authorization;

    if (!auth || auth.slice(0, 7) !== 'Bearer ') {
        return '0';
    }

    const token = auth.slice(7);
    const dot1 = token.indexOf('.');
    const dot2 = token.indexOf('.', dot1 + 1);

    if (dot1 < 0 || dot2 < 0) {
        return '0';
    }

    try {
        if (decode(token.slice(0, dot1)).alg !== 'HS256') {
            return '0';
        }

        const mac = crypto.createHmac('sha256', key)
                          .update(token.slice(0, dot2))
                          .digest('base64url');

        if (mac !== token.slice(dot2 + 1)) {
            return '0';
        }

        const claims = decode(token.slice(dot1 + 1, dot2));
        const now = Date.now() / 1000;

        if (typeof claims.exp === 'number' && now > claims.exp + leeway) {
            return '0';
        }

        if (typeof claims.nbf === 'number' && now < claims.nbf - leeway) {
            return '0';
        }

    } catch (e) {
        return '0';
    }

    return '1';
}

export default { verify };
