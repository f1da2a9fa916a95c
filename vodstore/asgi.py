"""
ASGI config for vodstore project.

It exposes the ASGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/asgi/
"""

import os

from django.core.asgi import get_asgi_application

from vodstore import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vodstore.settings")
# before the application is built: the Django instrumentation adds its middleware
tracing.configure()

application = get_asgi_application()
