"""200 on /healthz, 404 elsewhere; exits 0 on SIGTERM (as PID 1, Python would ignore it)."""

import http.server
import signal
import sys

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        found = self.path == "/healthz"
        self.send_response(200 if found else 404)
        self.end_headers()
        self.wfile.write(b"ok" if found else b"not found")

    def log_message(self, *args):
        pass


print("listening on 8080", flush=True)
http.server.ThreadingHTTPServer(("", 8080), Handler).serve_forever()
