#!/usr/bin/env python3
"""A build worker with no Coffer code: pushes two versions in parts over REST, waits until each is
ready, downloads and checks sha256, exports the latest and rolls back. Standard library only.
Usage: rest_worker.py BASE_URL API_KEY PROJECT_ID"""
import base64, hashlib, json, os, sys, time, urllib.error, urllib.request

BASE, KEY, PROJECT = sys.argv[1], sys.argv[2], sys.argv[3]
MiB = 1024 * 1024


def api(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + "/api/v1" + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + KEY)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: {e.code} {e.read().decode()}")


def fetch(url):
    with urllib.request.urlopen(url) as res:
        return res.read()


def push(data):
    created = api("POST", "/versions", {"projectId": PROJECT, "source": "build",
                                        "snapshot": {"sizeBytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}})
    version, plan = created["version"], created["upload"]
    artifact_id, size = version["snapshotArtifactId"], plan["partSize"]
    parts = [data[i * size:(i + 1) * size] for i in range(plan["partCount"])]
    md5s = [{"partNumber": n + 1, "md5": base64.b64encode(hashlib.md5(p).digest()).decode()} for n, p in enumerate(parts)]
    signed = api("POST", f"/uploads/{artifact_id}/sign-parts", {"parts": md5s})["parts"]
    for part in signed:
        req = urllib.request.Request(part["url"], data=parts[part["partNumber"] - 1], method="PUT", headers=part["headers"])
        urllib.request.urlopen(req).read()
    api("POST", f"/uploads/{artifact_id}/complete", {})
    for _ in range(300):
        if api("GET", f"/versions/{version['id']}")["status"] == "ready":
            return version["id"]
        time.sleep(0.1)
    sys.exit(f"version {version['id']} never became ready")


def check(download, data):
    assert download["available"], download
    got = fetch(download["downloadUrl"])
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest() == download["sha256"], "sha256 mismatch"


first, second = os.urandom(5 * MiB + 1234), os.urandom(MiB)
v1 = push(first)
check(api("GET", f"/versions/{v1}/download"), first)
v2 = push(second)
latest = api("GET", f"/projects/{PROJECT}/export")
assert latest["version"]["id"] == v2, latest
check(latest, second)
rolled = api("POST", f"/versions/{v1}/rollback", {})
assert rolled["version"]["isCurrent"], rolled
check(rolled["download"], first)
print("ok", v1, v2)
