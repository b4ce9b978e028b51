"""The standard-library SigV4 signer of the runtime gives the same Authorization header as
botocore's SigV4Auth for the same request at the same time."""

import datetime
import time
import urllib.parse
from unittest import mock

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

WHEN = datetime.datetime(2024, 1, 2, 3, 4, 5)
NOW = time.struct_time((2024, 1, 2, 3, 4, 5, 1, 2, 0))
NAMES = [
    "app-fib",
    "arn:aws:lambda:eu-west-1:123456789012:function:app-fib",
    "app-fib:prod",
    "fünc tion/with spaces+plus~tilde",
]


def botocore_authorization(url, headers, body, credentials, region):
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN):
        SigV4Auth(Credentials(*credentials), "lambda", region).add_auth(request)
    return request.headers["Authorization"]


@pytest.mark.parametrize("token", [None, "SESSION/TOKEN+="])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("query", ["", "Qualifier=prod", "b=2&a=1&a=0"])
def test_signature_matches_botocore(runtime, name, token, query):
    path = "/2015-03-31/functions/%s/invocations" % urllib.parse.quote(name, safe="")
    url = "http://127.0.0.1:10000" + path + ("?" + query if query else "")
    headers = {
        "Host": "127.0.0.1:10000",
        "Content-Type": "application/json",
        "X-Amz-Invocation-Type": "RequestResponse",
        "User-Agent": "not signed",
    }
    body = '{"args":["ü"]}'.encode()
    credentials = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    ours = runtime.sigv4.sign_headers("POST", path, query, headers, body, credentials, "eu-west-1", "lambda", NOW)
    assert ours["X-Amz-Date"] == "20240102T030405Z"
    assert ours.get("X-Amz-Security-Token") == token
    assert ours["Authorization"] == botocore_authorization(url, headers, body, credentials, "eu-west-1")


class Captured(Exception):
    pass


@pytest.mark.parametrize("token", [None, "TOKEN"])
@pytest.mark.parametrize("name", NAMES[:3] + ["fünc"])
def test_the_invoke_request_of_boto_is_signed_the_same(runtime, name, token):
    """Same path encoding as botocore's Invoke, same signature for boto's own request."""
    session = botocore.session.get_session()
    client = session.create_client(
        "lambda", region_name="us-west-2", endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKID", aws_secret_access_key="SECRET", aws_session_token=token,
    )

    def capture(request, **kwargs):
        raise Captured(request)

    client.meta.events.register("before-send.lambda.Invoke", capture)
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN):
        with pytest.raises(Captured) as info:
            client.invoke(FunctionName=name, Payload=b'{"a": 1}')
    request = info.value.args[0]
    path = urllib.parse.urlsplit(request.url).path
    assert path == "/2015-03-31/functions/%s/invocations" % urllib.parse.quote(name, safe="")
    ours = runtime.sigv4.sign_headers("POST", path, "", {"Host": "127.0.0.1:9"}, request.body,
                                  ("AKID", "SECRET", token), "us-west-2", "lambda", NOW)
    assert ours["Authorization"] == request.headers["Authorization"].decode()
