"""On call: rotations per role (weekly or custom handoffs, overrides), paging with acknowledgement
and re-paging (issue 11 §3). Models in incidents.models.oncall; rotation maths in schedule.py."""
