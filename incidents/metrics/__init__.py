"""Response metrics (DESIGN §8a): durations from milestone columns, p50/p90 per severity and
month, as a page with server-drawn SVG charts, a CSV export and GET /api/v1/metrics/.

Other apps add groups of metrics through the registry (incidents.metrics.registry) without this
package importing them; corrections/metrics.py adds the correction phases.
"""

from incidents.metrics.registry import Metric, MetricGroup, register_group, registered_groups

__all__ = ["Metric", "MetricGroup", "register_group", "registered_groups"]
