"""The demo seeds three realistic playbooks, and its CBRN incident gets the CBRN one with its checklist."""

from io import StringIO

from django.core.management import call_command

from corrections.models import Playbook
from corrections.playbooks.selectors import playbook_for, recommendations_for
from incidents.models import Incident


def test_seed_demo_writes_three_playbooks_once_and_attaches_the_cbrn_one(db, tmp_path):
    for _ in range(2):  # safe to repeat
        call_command("seed_demo", force=True, gateway_state_dir=str(tmp_path), stdout=StringIO())
    assert sorted(Playbook.objects.values_list("slug", flat=True)) == [
        "cbrn-uplift-tool", "jailbreak-in-the-wild", "weight-exfiltration",
    ]  # fmt: skip
    cbrn = Incident.objects.get(risk_domain="cbrn")
    version = playbook_for(cbrn)
    assert version.playbook.slug == "cbrn-uplift-tool" and version.preauthorised
    assert cbrn.checklist.count() == len(version.steps)
    rows = recommendations_for(cbrn, version)
    assert rows[0].type == "disable_capability" and rows[0].preauthorised
    assert "param_capability=tool_use" in rows[0].links[0].url
    assert playbook_for(Incident.objects.get(risk_domain="cyber")).playbook.slug == "jailbreak-in-the-wild"
