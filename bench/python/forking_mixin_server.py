"""Python's standard fork-per-request HTTP server: socketserver.ForkingMixIn + http.server,
answering "Hello, World!" with Content-Length. For benchmarks.

    python3 bench/python/forking_mixin_server.py [port]
"""
import http.server
import socketserver
import sys

BODY = b"Hello, World!\n"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format, *args):
        pass


class Server(socketserver.ForkingMixIn, http.server.HTTPServer):
    allow_reuse_address = True
    request_queue_size = 1024


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8888
    with Server(("127.0.0.1", port), Handler) as httpd:
        print("Serving HTTP on port {} ...".format(httpd.server_address[1]), flush=True)
        httpd.serve_forever()
