"""Drills (DESIGN §8a, issue 12 §3): rehearsing the whole path on a real incident marked as a drill.

    phases     the report's arithmetic, a pure function over plain data (like corrections/policy.py)
    services   start a drill, keep a report, set a schedule, remind when one is due
    selectors  reports and schedules as each user may see them
    api, views, urls: POST/GET /api/v1/drills/, GET /api/v1/drills/reports/{id}/, the page /drills/

A drill's incident is created with Incident.is_drill (incidents.drills says what that keeps it out
of); its corrections run the real sign-off and dispatch, with dry_run at every actuator
(corrections.dispatch.payload_for). Starting a drill from a playbook is one more source for the
scenario: `drill_start` takes the scenario's fields, which a playbook will fill.
"""
