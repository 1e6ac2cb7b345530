"""mini-service: a tiny inference server that reports what NVCF delivered to it.

Kept import-free on purpose: launchers import `mini_service.launch` without
paying for (or needing) grpcio.
"""

__version__ = "0.1.0"
SERVER_NAME = "mini-service"
