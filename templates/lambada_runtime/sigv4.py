"""AWS Signature Version 4 for the Invoke API, and where credentials, region and endpoint
come from (the standard library only: no botocore in a cloud function's package)."""

import hashlib
import hmac
import os
import time
import urllib.parse

_UNSIGNED_HEADERS = frozenset(
    ["connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id", "authorization"]
)
_signing_keys = {}


def sign_headers(method, path, query, headers, body, credentials, region, service, now=None):
    """The headers that sign a request with AWS Signature Version 4: X-Amz-Date,
    X-Amz-Security-Token (with a session token) and Authorization.

    ``path`` and ``query`` are as sent (already percent-encoded); ``headers`` must include
    Host; ``credentials`` is (access key, secret key, session token or None); ``now`` a
    UTC time.struct_time (default: the current time)."""
    access_key, secret_key, token = credentials
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", now or time.gmtime())
    datestamp = amz_date[:8]
    signed = {name.lower(): str(value) for name, value in headers.items()}
    signed = {name: value for name, value in signed.items() if name not in _UNSIGNED_HEADERS}
    signed["x-amz-date"] = amz_date
    if token:
        signed["x-amz-security-token"] = token
    names = sorted(signed)
    canonical_headers = "".join("%s:%s\n" % (name, " ".join(signed[name].split())) for name in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join([
        method.upper(),
        # AWS services other than S3 sign the path encoded once more.
        urllib.parse.quote(path or "/", safe="/~"),
        _canonical_query(query),
        canonical_headers,
        signed_headers,
        hashlib.sha256(body).hexdigest(),
    ])
    scope = "%s/%s/%s/aws4_request" % (datestamp, region, service)
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    ])
    key = _signing_key(secret_key, datestamp, region, service)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    result = {"X-Amz-Date": amz_date}
    if token:
        result["X-Amz-Security-Token"] = token
    result["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        access_key, scope, signed_headers, signature)
    return result


def _canonical_query(query):
    if not query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
    return "&".join("%s=%s" % pair for pair in pairs)


def _signing_key(secret_key, datestamp, region, service):
    cache_key = (secret_key, datestamp, region, service)
    key = _signing_keys.get(cache_key)
    if key is None:
        key = ("AWS4" + secret_key).encode("utf-8")
        for part in (datestamp, region, service, "aws4_request"):
            key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
        _signing_keys[cache_key] = key
    return key


# The profile baked into the manifest at deploy time (`--aws-profile`), if any.
_baked_profile = None


def use_profile(name):
    global _baked_profile
    _baked_profile = name or None


def _aws_profile():
    return (os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or _baked_profile
            or "default")


def profile_note():
    """` for profile NAME` when one other than the default was asked for."""
    profile = _aws_profile()
    return "" if profile == "default" else " for profile %s" % profile


def _read_ini(path, section):
    import configparser

    parser = configparser.RawConfigParser()
    try:
        parser.read(os.path.expanduser(path), encoding="utf-8")
    except (OSError, configparser.Error):
        return {}
    return dict(parser.items(section)) if parser.has_section(section) else {}


def _config_file_section():
    profile = _aws_profile()
    path = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    return _read_ini(path, profile if profile == "default" else "profile " + profile)


def find_credentials():
    """(access key, secret key, session token) from the environment or the shared files."""
    key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return key, secret, os.environ.get("AWS_SESSION_TOKEN") or None
    path = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    for section in (_read_ini(path, _aws_profile()), _config_file_section()):
        if section.get("aws_access_key_id") and section.get("aws_secret_access_key"):
            token = section.get("aws_session_token")
            return section["aws_access_key_id"], section["aws_secret_access_key"], token
    return None


def find_region(manifest):
    return (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or _config_file_section().get("region") or manifest.get("region") or "us-east-1")


def find_endpoint(manifest, region):
    return (os.environ.get("AWS_ENDPOINT_URL_LAMBDA") or os.environ.get("AWS_ENDPOINT_URL")
            or manifest.get("endpoint") or "https://lambda.%s.amazonaws.com" % region)


def is_loopback(host):
    import ipaddress

    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Signs requests to a loopback endpoint when no credentials are configured: a local
# lambada host without authentication accepts any signature.
PLACEHOLDER_CREDENTIALS = ("lambada", "lambada", None)
