"""A report version as PDF: the printable page (report_print.html) rendered by WeasyPrint with the
print stylesheet, fetching nothing — no network, no files: a report's text cannot make the
server reach anywhere. Imported lazily, so an install without WeasyPrint's system libraries
(Pango) still serves everything else and offers the printable page instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.contrib.staticfiles import finders

STYLESHEET = "css/report-print.css"
# WeasyPrint tells every rendering step at INFO: keep its warnings, not its progress.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


class PdfUnavailable(Exception):
    """WeasyPrint (or the Pango it needs) is not installed here."""


def html_to_pdf(html: str) -> bytes:
    try:
        import weasyprint
        from weasyprint.urls import URLFetcher, URLFetchingError
    except (ImportError, OSError) as error:  # OSError: the Python package is there, Pango is not
        raise PdfUnavailable(str(error)) from error

    class NoFetching(URLFetcher):
        def fetch(self, url, headers=None):
            raise URLFetchingError(f"{url}: a report's PDF fetches nothing")

    css_path = finders.find(STYLESHEET)
    css = weasyprint.CSS(string=Path(str(css_path)).read_text(encoding="utf-8")) if css_path else None
    document = weasyprint.HTML(string=html, url_fetcher=NoFetching())
    return document.write_pdf(stylesheets=[css] if css else None)
