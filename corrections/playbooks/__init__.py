"""Playbooks (DESIGN §8a): versioned documents that match incidents by category, risk domain and
severity and bring a checklist, escalation criteria and recommended corrections; one of those may
be pre-authorised to tier 1 once leadership approves the version.

- content: reading and validating what a version says (field-level messages)
- selectors: the playbooks, `playbook_for(incident)`, what a request may be pre-authorised by
- services: create, new version, approve the pre-authorisation, attach to a matching incident
- api: /api/v1/playbooks/ and the incident's playbook
"""
