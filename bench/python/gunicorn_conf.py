"""gunicorn settings for the benchmark suite: once the master listens, print the suite's serving
line on stdout (gunicorn logs to stderr), so that gunicorn starts like every other server.
Everything else (workers, bind) is given on the command line by bench/suite.js.
"""
import sys

accesslog = None
loglevel = "warning"


def when_ready(server):
    port = server.LISTENERS[0].sock.getsockname()[1] if server.LISTENERS else 0
    sys.stdout.write("Serving HTTP on port {} ... (gunicorn)\n".format(port))
    sys.stdout.flush()
