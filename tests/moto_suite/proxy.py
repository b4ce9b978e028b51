"""One endpoint for moto's test suite in server mode: Lambda requests go to `lambada
serve`, everything else (IAM, STS, S3, the /moto-api control paths) to a moto server.

moto's ServerModeMockAWS passes TEST_SERVER_MODE_ENDPOINT as `endpoint_url` to every
boto3 client, so per-service endpoint variables (AWS_ENDPOINT_URL_LAMBDA) never apply;
the service has to be told apart per request. A SigV4 request names its service in the
credential scope of its Authorization header (`Credential=KEY/DATE/REGION/lambda/...`).

`POST /moto-api/reset` (sent when a test starts) also empties lambada: every function
and layer version is deleted through the Lambda API, so each test starts clean as it
would against moto alone.

Usage: python proxy.py PORT MOTO_URL LAMBADA_URL
"""

import http.client
import re
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


def reset_lambada(url):
    client = boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for page in client.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            client.delete_function(FunctionName=function["FunctionName"])
    for page in client.get_paginator("list_layers").paginate():
        for layer in page["Layers"]:
            versions = client.list_layer_versions(LayerName=layer["LayerName"])
            for version in versions["LayerVersions"]:
                client.delete_layer_version(
                    LayerName=layer["LayerName"], VersionNumber=version["Version"]
                )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    moto = None
    lambada = None

    def log_message(self, *args):
        pass

    def _forward(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        scope = SCOPE.search(self.headers.get("authorization", ""))
        to_lambada = scope is not None and scope.group(1) == "lambda"
        if self.path.startswith("/moto-api/reset"):
            try:
                reset_lambada(self.lambada.geturl())
            except Exception as exc:  # a failed reset must not hide moto's answer
                sys.stderr.write(f"proxy: resetting lambada failed: {exc}\n")
        target = self.lambada if to_lambada else self.moto
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn.request(self.command, self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward


def main():
    port, moto, lambada = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    Handler.moto = urllib.parse.urlparse(moto)
    Handler.lambada = urllib.parse.urlparse(lambada)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
