"""
WSGI config for vodstore project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

from vodstore import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vodstore.settings")
# before the application is built: the Django instrumentation adds its middleware
tracing.configure()

application = get_wsgi_application()
