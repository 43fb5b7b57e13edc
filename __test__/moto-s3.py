"""moto's S3 server for the storage tests, without the per-request costs that have nothing to
do with S3: werkzeug's access log (a formatted, coloured line per request, a sixth of the
server's CPU under the migration test) and the dispatcher's host lookup, which walks every
moto module and URL pattern on every request although its answer for a host never changes.
The S3 behaviour is moto's own; arguments are moto_server's (-H HOST -p PORT)."""

import logging
import sys

logging.getLogger("werkzeug").setLevel(logging.ERROR)

from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402
from moto.server import main  # noqa: E402

_lookup = getattr(DomainDispatcherApplication, "get_backend_for_host", None)
if _lookup is not None:
    _backend_of = {}

    def _remembered(self, host):
        if host not in _backend_of:
            _backend_of[host] = _lookup(self, host)
        return _backend_of[host]

    DomainDispatcherApplication.get_backend_for_host = _remembered

main(sys.argv[1:])
