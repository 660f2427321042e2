"""A tiny Python JSON API for the Portico examples (standard library only)."""
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ["PORT"])
INSTANCE = f"{os.environ.get('PORTICO_APP', 'api')}#{os.environ.get('PORTICO_INSTANCE', '0')}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/health":
            body = b"ok\n"
            ctype = "text/plain"
        else:
            body = json.dumps({
                "app": "api",
                "instance": INSTANCE,
                "pid": os.getpid(),
                "path": self.path,
                "forwardedFor": self.headers.get("X-Forwarded-For"),
            }).encode()
            ctype = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Instance-Id", INSTANCE)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.command, self.path))
        sys.stdout.flush()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on {PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
