#!/usr/bin/env python3
"""bench/tenant.py -- what the bench reads from a running `samla test-tenant serve`.

Usage (the secret is read from the environment variable the tenant's JSON line names):
  tenant.py writes TENANT_JSON            the admitted write arrivals (GET /_samla/writes), JSON list
  tenant.py dump TENANT_JSON OUT          the tenant's content (GET /_samla/dump) with every object id
                                          replaced by the object's key (users: onPremisesImmutableId,
                                          groups: mailNickname), so two tenants compare equal when they
                                          hold the same objects, links and licences
  tenant.py compare DUMP_A DUMP_B         prints "USERS GROUPS MEMBERS MANAGERS LICENCES DUPLICATES SAME"
                                          for A, and whether B is the same (yes/no, then what differs)
  tenant.py counts DUMP                   prints "USERS GROUPS MEMBERS MANAGERS LICENCES DUPLICATES"
DUPLICATES: users sharing an onPremisesImmutableId plus groups sharing a mailNickname.
"""
import collections
import json
import os
import sys
import urllib.parse
import urllib.request


def get(tenant_json, path):
    t = json.loads(open(tenant_json).readline())
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": t["client_id"],
                                   "client_secret": os.environ[t["client_secret_env"]],
                                   "scope": "https://graph.microsoft.com/.default"}).encode()
    token = json.load(urllib.request.urlopen(t["token_url"], form))["access_token"]
    req = urllib.request.Request(t["url"] + path, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(req))


def normalise(d):
    key = {}
    for u in d["users"]:
        p = u["properties"]
        key[u["id"]] = "user:" + (p.get("onPremisesImmutableId") or p["userPrincipalName"])
    for g in d["groups"]:
        key[g["id"]] = "group:" + g["properties"]["mailNickname"]
    k = lambda i: key.get(i, "unknown:" + str(i))
    users = [{"key": k(u["id"]), "properties": u["properties"], "manager": u.get("manager") and k(u["manager"]),
              "licences": u.get("licences"), "effectiveLicences": sorted(u.get("effectiveLicences") or [])}
             for u in d["users"]]
    groups = [{"key": k(g["id"]), "properties": g["properties"], "members": sorted(map(k, g.get("members", []))),
               "owners": sorted(map(k, g.get("owners", []))), "licences": g.get("licences")} for g in d["groups"]]
    return {"users": sorted(users, key=lambda x: x["key"]), "groups": sorted(groups, key=lambda x: x["key"]),
            "deleted": {t: len(v) for t, v in d.get("deletedItems", {}).items()},
            "skus": sorted((s["skuPartNumber"], s["consumed"]) for s in d.get("subscribedSkus", []))}


def counts(n):
    dupes = sum(c - 1 for c in collections.Counter(x["key"] for x in n["users"] + n["groups"]).values() if c > 1)
    return [len(n["users"]), len(n["groups"]), sum(len(g["members"]) for g in n["groups"]),
            sum(1 for u in n["users"] if u["manager"]),
            sum(len(u["effectiveLicences"]) for u in n["users"]), dupes]


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "writes":
        print(json.dumps(get(args[0], "/_samla/writes")["arrivals"]))
    elif cmd == "dump":
        json.dump(normalise(get(args[0], "/_samla/dump")), open(args[1], "w"), sort_keys=True)
    elif cmd == "counts":
        print(*counts(json.load(open(args[0]))))
    elif cmd == "compare":
        a, b = json.load(open(args[0])), json.load(open(args[1]))
        diff = []
        for part in ("users", "groups"):
            ka, kb = {x["key"]: x for x in a[part]}, {x["key"]: x for x in b[part]}
            only_a, only_b = ka.keys() - kb.keys(), kb.keys() - ka.keys()
            changed = [x for x in ka.keys() & kb.keys() if ka[x] != kb[x]]
            if only_a or only_b or changed:
                diff.append(f"{part}: {len(only_a)} only in A, {len(only_b)} only in B, {len(changed)} differ"
                            + (f" (e.g. {sorted(changed)[0]})" if changed else ""))
        for part in ("deleted", "skus"):
            if a[part] != b[part]:
                diff.append(f"{part}: {a[part]} vs {b[part]}")
        print(*counts(a), "yes" if not diff else "no", "; ".join(diff))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
