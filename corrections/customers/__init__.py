"""Customer notices (issue 13 §5): which customers a correction touches, the notice each is owed under
its agreement, the flags raised before approval, and sending (checks, selectors, services, pages, API).
The customers themselves and their agreements are incidents' (incidents.customers)."""
