#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of `rclone serve webdav`, for ship's end-to-end tests.

Listens on loopback only and forwards every request to --upstream. Before each request it
re-reads the JSON control file (--control; absent or empty means no fault), so a test changes
the fault by replacing that file (write a temporary file, then rename). Prints one JSON line
{"url": "http://127.0.0.1:PORT/"} on stdout once it listens.

Control file: {"mode": MODE, ...}. Request bodies must carry a Content-Length (rclone's do):

  none                                   forward unchanged
  fail_puts      status, retry_after     answer PUTs with `status` (default 500), with a
                                         Retry-After header when retry_after is given
  fail_all       status                  answer every request with `status`
  drop_put_after bytes                   forward the PUT's headers and its first `bytes` bytes,
                                         then close both connections without an answer, as a
                                         dropped link would
  corrupt_put                            flip one bit in the middle of the PUT body, forward it
                                         and relay the upstream's answer
"""
import argparse
import http.client
import http.server
import json
import socket
import sys
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


def read_control(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return json.loads(text) if text else {}
    except FileNotFoundError:
        return {}


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None  # (host, port, path prefix)
    control = None

    def log_message(self, *args):
        pass

    def answer(self, status, headers=(), body=b""):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if "content-length" not in {k.lower() for k, _ in headers}:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def upstream_headers(self, length):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"}
        headers["Host"] = "%s:%d" % self.upstream[:2]
        if length is not None:
            headers["Content-Length"] = str(length)
        return headers

    def drop(self, body, keep):
        # Raw socket: http.client would not let us stop half-way through a declared body.
        conn = socket.create_connection(self.upstream[:2])
        head = "%s %s HTTP/1.1\r\n" % (self.command, self.upstream[2] + self.path)
        head += "".join("%s: %s\r\n" % kv for kv in self.upstream_headers(len(body)).items()) + "\r\n"
        conn.sendall(head.encode("latin-1") + body[:keep])
        conn.close()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def handle_any(self):
        fault = read_control(self.control)
        mode = fault.get("mode", "none")
        length = self.headers.get("Content-Length")
        body = self.rfile.read(int(length)) if length else None
        is_put = self.command == "PUT"
        if mode == "fail_all" or (mode == "fail_puts" and is_put):
            status = int(fault.get("status", 500))
            headers = [("Content-Type", "text/plain")]
            if "retry_after" in fault:
                headers.append(("Retry-After", str(fault["retry_after"])))
            return self.answer(status, headers, ("%d %s\n" % (status, http.client.responses.get(status, ""))).encode())
        if mode == "drop_put_after" and is_put and body is not None:
            return self.drop(body, int(fault.get("bytes", 0)))
        if mode == "corrupt_put" and is_put and body:
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1:]
        conn = http.client.HTTPConnection(*self.upstream[:2], timeout=60)
        try:
            conn.request(self.command, self.upstream[2] + self.path, body=body,
                         headers=self.upstream_headers(len(body) if body is not None else None))
            response = conn.getresponse()
            payload = response.read()
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            if self.command != "HEAD" and response.status not in (204, 304):
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers.append(("Content-Length", str(len(payload))))
            self.answer(response.status, headers, payload)
        finally:
            conn.close()

    def __getattr__(self, name):
        # Every WebDAV method (PROPFIND, MKCOL, MOVE, ...) goes through the same path.
        if name.startswith("do_"):
            return self.handle_any
        raise AttributeError(name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:8080/")
    ap.add_argument("--control", required=True, help="JSON file holding the current fault")
    a = ap.parse_args()
    url = urllib.parse.urlsplit(a.upstream)
    Proxy.upstream = (url.hostname, url.port, url.path.rstrip("/"))
    Proxy.control = a.control
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    print(json.dumps({"url": "http://127.0.0.1:%d/" % server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
