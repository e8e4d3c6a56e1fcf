"""The interactive API docs (Swagger UI from the pinned drf-spectacular-sidecar, served locally)
under the same strict Content-Security-Policy as every page.

drf-spectacular's default view bootstraps Swagger UI with an inline <script> and an inline
<style>; the split view loads the bootstrap as a script of its own (?script), and our template
swaps the inline style for static/css/api-docs.css. No 'unsafe-inline' is needed anywhere.
"""

from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularSwaggerSplitView

from config.api import HasAnyRole


# Swagger UI's stylesheet draws its icons as data: URIs; that is the page's only extra source.
@method_decorator(csp_update({"img-src": ["data:"]}), name="get")
class ApiDocsView(SpectacularSwaggerSplitView):
    permission_classes = [HasAnyRole]  # read-only: a write is 403 for everyone, like every read-only endpoint
    template_name = "api/swagger_ui.html"
