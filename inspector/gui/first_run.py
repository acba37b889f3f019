"""What the empty window says before the first request: three lines, one per way in.

Kept apart from the window so the wording and the sample command change in one place.
"""

from __future__ import annotations

from html import escape

#: A request anyone can send today to see the window fill; ``{url}`` ends with "/".
#: It is an SMS delivery report, decoded as ``sms:message:status`` DELIVRD (short, so without
#: the report's three times, which the decoder then notes as missing). The content type is
#: needed: with curl's default (a form) the JSON is not recognised.
SAMPLE_COMMAND = (
    "curl -H 'Content-Type: application/json' "
    '-d \'{{"id":"demo-1","mobile":"918921269000","status":"DELIVRD"}}\' {url}sms'
)


def sample_command(url: str) -> str:
    return SAMPLE_COMMAND.format(url=url)


def first_run_lines(url: str, public_url: str = "") -> list[str]:
    """The three lines as plain text: the listening URL, the tunnel, a sample request."""
    tunnel = (
        f"From the internet, through the tunnel: {public_url}"
        if public_url
        else "From the internet: start the tunnel (Tunnel in the toolbar) for a public HTTPS URL"
    )
    return [
        f"Point the provider at {url} (Ctrl+L copies it)",
        tunnel,
        "No provider yet? Send a sample (Send Test Event\u2026 in the toolbar sends the "
        f"provider's events and stories), or with curl: {sample_command(url)}",
    ]


def first_run_html(url: str, public_url: str = "") -> str:
    """The same three lines under a heading, for the window's empty state (all escaped)."""
    where, tunnel, sample = (escape(line) for line in first_run_lines(url, public_url))
    u, pub = escape(url), escape(public_url)
    where = where.replace(u, f"<b>{u}</b>", 1)
    if public_url:
        tunnel = tunnel.replace(pub, f"<b>{pub}</b>", 1)
    else:
        tunnel = tunnel.replace("Tunnel", "<b>Tunnel</b>", 1)
    cmd = escape(sample_command(url))
    sample = sample.replace(cmd, f"<code>{cmd}</code>", 1)
    # The window opens the Send Test Event dialog for this link.
    sample = sample.replace("Send a sample", "<a href='send'>Send a sample</a>", 1)
    return (
        f"<p style='font-size:14pt'>Waiting for webhooks</p><p>{where}<br>{tunnel}<br>{sample}</p>"
    )
