"""A hello-world WSGI app for gunicorn: "Hello, World!\n" with Content-Length, the same bytes as
forkserve's hello app and the ForkingMixIn server.

    gunicorn -c bench/python/gunicorn_conf.py --chdir bench/python -w 2 -k sync -b 127.0.0.1:PORT hello_wsgi:app
"""

BODY = b"Hello, World!\n"


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))])
    return [BODY]
