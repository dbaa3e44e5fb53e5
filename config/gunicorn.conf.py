"""Production gunicorn settings: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Every value comes from the environment so one file serves a laptop, a container and a large
machine. Logs (access and errors) go to stdout/stderr for the process manager to collect.
Scale out by raising WEB_CONCURRENCY here, or by running more machines with this same command
pointed at the same DATABASE_URL and CELERY_BROKER_URL.
"""

import os

_cpus = os.cpu_count() or 1

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# Requests spend most of their time waiting on PostgreSQL, so threads are cheap concurrency;
# processes use the cores. Each thread holds its own persistent database connection
# (DATABASE_CONN_MAX_AGE), so workers x threads must stay under PostgreSQL's max_connections.
workers = int(os.environ.get("WEB_CONCURRENCY", str(2 * _cpus)))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
worker_class = "gthread" if threads > 1 else "sync"
# Load the app once in the master and fork warm workers (config/wsgi.py's warm()): a worker's
# first requests then cost what later ones do (measured: p99 of the first 20 s of the load
# test). GUNICORN_PRELOAD=0 turns it off.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") != "0"
# A request that takes longer than this is stuck (nothing here should take a second); the
# worker is killed and replaced instead of holding its threads forever.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
backlog = int(os.environ.get("GUNICORN_BACKLOG", "2048"))
# Recycle workers now and then so a slow leak in any library cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10

# "-" is stdout for the access log and stderr for the error log.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
capture_output = True
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'

# The heartbeat file lives in memory: a worker on a slow disk is not taken for a hung one.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
# The TLS proxy in front sets X-Forwarded-Proto; trust it only from the addresses listed.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Gunicorn's runtime control socket defaults to one path per user, which two instances on one
# machine would fight over; enable it explicitly with GUNICORN_CONTROL_SOCKET=/path.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True
proc_name = "tastetest"
