#!/usr/bin/env python3
"""bench/graph_baseline.py -- the one-request-per-change script an administrator writes.

Usage: graph_baseline.py TENANT_JSON REQUESTS.jsonl [REQUESTS.jsonl ...] [--ids FILE] [--json OUT]

Reads the Graph requests `samla wave dry-run` wrote (reports/waves/<wave>/graph-requests.jsonl)
and sends the same changes to a tenant the way a hand-written script does: plain HTTP
(Python's standard library, one keep-alive connection), client credentials (the secret from the
environment variable TENANT_JSON names), strictly one request at a time, one request per
change, and on 429 or 503 the same request again after its Retry-After. Nothing is batched:

- a user: one POST /users with all its attributes (as samla);
- a group (security or licence group): one POST /groups without members, then one
  POST /groups/{id}/members/$ref per member (owners, needed at create, stay in the create);
- members added to an existing group: one POST .../members/$ref each;
- a manager: one PUT /users/{id}/manager/$ref; a licence: one POST .../assignLicense.

Creates go first (in file order), then everything else in file order, so a reference never
names an object not yet created. `{id:ANCHOR}` is the id the tenant gave this script's own
create (kept across runs in --ids FILE), `{sku:PART}` comes from GET /subscribedSkus,
`{password}` is a fresh random password. Prints (and writes to --json) what it sent: requests,
writes, reads, throttled answers, other errors, wall seconds.
"""
import http.client
import json
import os
import re
import secrets
import sys
import time
import urllib.parse

PLACEHOLDER = re.compile(r"\{(id|sku):([^}]+)\}")


class Graph:
    def __init__(self, tenant):
        self.t = tenant
        self.secret = os.environ[tenant["client_secret_env"]]
        u = urllib.parse.urlsplit(tenant["graph_url"])
        self.host, self.prefix = u.netloc, u.path.rstrip("/")
        self.conn = None
        self.token, self.expires = None, 0.0
        self.stats = {"requests": 0, "writes": 0, "reads": 0, "throttled": 0, "unavailable": 0,
                      "errors": 0, "token_requests": 0}
        self.error_samples = []

    def _token(self):
        if self.token and time.monotonic() < self.expires - 60:
            return self.token
        u = urllib.parse.urlsplit(self.t["token_url"])
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": self.t["client_id"],
                                       "client_secret": self.secret,
                                       "scope": "https://graph.microsoft.com/.default"})
        c = http.client.HTTPConnection(u.netloc, timeout=60)
        c.request("POST", u.path, form, {"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        self.stats["token_requests"] += 1
        self.token = body["access_token"]
        self.expires = time.monotonic() + float(body.get("expires_in", 3599))
        return self.token

    def _send(self, method, path, body):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": "Bearer " + self._token(), "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(3):  # a dropped keep-alive connection: reconnect once or twice
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, timeout=120)
                self.conn.request(method, self.prefix + path, data, headers)
                r = self.conn.getresponse()
                return r.status, r.getheader("Retry-After"), r.read()
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn = None
                if attempt == 2:
                    raise

    def call(self, method, path, body=None):
        """One request; on 429/503 the same request again after Retry-After. Returns (status, json)."""
        while True:
            status, retry_after, raw = self._send(method, path, body)
            self.stats["requests"] += 1
            self.stats["reads" if method == "GET" else "writes"] += 1
            if status in (429, 503):
                self.stats["throttled" if status == 429 else "unavailable"] += 1
                time.sleep(float(retry_after or 1))
                continue
            if status == 401:
                self.token = None
                continue
            try:
                doc = json.loads(raw) if raw else None
            except ValueError:
                doc = None
            if status >= 400:
                self.stats["errors"] += 1
                if len(self.error_samples) < 5:
                    self.error_samples.append(f"{method} {path}: {status} {raw[:300].decode(errors='replace')}")
            return status, doc


def password():
    return "Bq7!" + secrets.token_urlsafe(12)


def main():
    args, ids_file, out = [], None, None
    it = iter(sys.argv[1:])
    for a in it:
        if a == "--ids":
            ids_file = next(it)
        elif a == "--json":
            out = next(it)
        else:
            args.append(a)
    if len(args) < 2:
        sys.exit(__doc__)
    tenant = json.loads(open(args[0]).readline())
    g = Graph(tenant)
    ids = json.load(open(ids_file)) if ids_file and os.path.exists(ids_file) else {}
    t0 = time.monotonic()
    skus = {}

    def resolve(text):
        def sub(m):
            kind, key = m.group(1), m.group(2)
            if kind == "sku":
                if not skus:
                    _, doc = g.call("GET", "/subscribedSkus")
                    skus.update({s["skuPartNumber"]: s["skuId"] for s in doc["value"]})
                return skus[key]
            if key not in ids:
                raise SystemExit(f"graph_baseline: no id for {key} (not created by this script)")
            return ids[key]
        return PLACEHOLDER.sub(sub, text)

    def fill(value):
        s = json.dumps(value).replace('"{password}"', json.dumps(password()))
        return json.loads(resolve(s))

    creates, rest = [], []
    for path in args[1:]:
        for line in open(path):
            r = json.loads(line)
            (creates if r["action"] in ("create_user", "create_group", "create_licence_group") else rest).append(r)
    members = []  # (group key, member reference) for groups created here
    for r in creates:
        body = dict(r["body"])
        binds = body.pop("members@odata.bind", [])
        # samla upserts a group on its uniqueName; a hand-written script POSTs it.
        url = "/groups" if r["action"] != "create_user" else resolve(r["url"])
        status, doc = g.call("POST", url, fill(body))
        if status >= 300 or not doc:
            continue
        key = r["anchor"] if r["anchor"] else "licence-group:" + r["licence_class"]
        ids[key] = doc["id"]
        members += [(key, b) for b in binds]
    for key, b in members:
        g.call("POST", f"/groups/{ids[key]}/members/$ref", {"@odata.id": resolve(b)})
    for r in rest:
        body = r.get("body")
        if r["action"] == "add_members":
            for b in body["members@odata.bind"]:
                g.call("POST", resolve(r["url"]) + "/members/$ref", {"@odata.id": resolve(b)})
        else:
            g.call(r["method"], resolve(r["url"]), None if body is None else fill(body))
    g.stats["seconds"] = round(time.monotonic() - t0, 2)
    g.stats["error_samples"] = g.error_samples
    if ids_file:
        json.dump(ids, open(ids_file, "w"))
    text = json.dumps(g.stats)
    if out:
        open(out, "w").write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
