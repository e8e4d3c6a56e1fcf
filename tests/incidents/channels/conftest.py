import pytest

from incidents.channels.local_slack import LocalSlack

TOKEN = "xoxb-test-token"


@pytest.fixture
def local_slack(settings):
    """The Slack stand-in on a real socket, with Failsafe's settings pointed at it; two channels exist."""
    slack = LocalSlack(token=TOKEN)
    slack.add_channel("C0RESPOND", "failsafe-responders")
    slack.add_channel("C0LEADERS", "failsafe-leadership")
    slack.serve()
    settings.FAILSAFE_SLACK_API_URL = slack.url
    settings.FAILSAFE_SLACK_BOT_TOKEN = TOKEN
    settings.FAILSAFE_SLACK_TIMEOUT = 2
    yield slack
    slack.stop()
