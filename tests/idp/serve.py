"""Run the test provider: `python -m tests.idp.serve PORT` with IDP_* in the environment (harness.py)."""

import os
import sys

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.idp.settings"


def main() -> None:
    import django
    from django.core.management import call_command
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    run("127.0.0.1", int(sys.argv[1]), get_wsgi_application(), threading=True)


if __name__ == "__main__":
    main()
