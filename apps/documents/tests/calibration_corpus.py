"""A small help centre of a fictional product (Markdown, several documents with headings) for the
refusal-calibration tests, and a cooking guide whose questions overlap the shipped general set."""

HELP_CENTRE = {
    "getting-started.md": """# Getting started with Lumen Boards

Lumen Boards is a visual planning tool for small teams: boards hold lists, and lists hold cards.

## Create a board

Open the workspace sidebar and choose New board. A board gets a name, a colour and a visibility:
private boards are seen by their members only, workspace boards by everyone in the workspace.

## Invite teammates

Board admins invite teammates from the Share button by e-mail address. Invitations expire after
seven days; an expired invitation can be sent again from the pending invitations list.

## Keyboard shortcuts

Press N to add a card to the focused list, E to edit the selected card and slash to search the
board. The full list of shortcuts opens with the question mark key.
""",
    "cards.md": """# Working with cards

Cards are the units of work on a board: each card has a title, a description, labels, a due date
and a checklist.

## Due dates and reminders

A due date turns the card's badge orange one day before and red once it has passed. Reminders are
sent by e-mail and push notification at the time chosen in the card's reminder menu.

## Checklists

A checklist splits a card into steps. Completed items are struck through and the card shows how
many of its items are done, for example 3/5.

## Archiving cards

Archived cards leave the board but stay searchable. Restore an archived card from the board menu,
under Archived items; deleting it from there is permanent.
""",
    "automation.md": """# Automation rules

Rules move and update cards for you when something happens on a board.

## Triggers

A rule starts from a trigger: a card is moved to a list, a due date passes, a label is added or a
checklist is completed.

## Actions

Actions run after the trigger: move the card, assign a member, add a label, post a comment or mark
the due date complete. A rule may chain up to ten actions.

## Rule limits

Free workspaces run 250 rule executions a month; Standard workspaces run 1,000 per member, and
Premium workspaces have no limit. The usage meter is in the workspace settings.
""",
    "billing.md": """# Plans and billing

Lumen Boards has three plans: Free, Standard and Premium.

## Changing plans

Workspace admins upgrade or downgrade under Settings, Billing. An upgrade takes effect at once and
is prorated; a downgrade takes effect at the end of the billing period.

## Invoices

Invoices are e-mailed to the billing contact on the first day of each period and can be downloaded
as PDF from the billing page. The company name and VAT number printed on them are editable there.

## Refunds for annual plans

Annual plans cancelled within 30 days of purchase are refunded in full. After 30 days the plan stays
active until the end of the year and is not renewed.
""",
    "integrations.md": """# Integrations

Power-ups connect boards with the tools a team already uses.

## Calendar sync

The calendar power-up publishes cards with due dates as an iCalendar feed. Paste the feed address
into any calendar application to see the board's deadlines there.

## Chat notifications

The chat power-up posts a message to a channel when a card is created, moved or completed on the
board. Each board chooses its own channel and events.

## Webhooks

Webhooks send a signed JSON payload to your server for every change on a board. The signature is an
HMAC-SHA256 of the body with the webhook's secret, in the X-Lumen-Signature header.
""",
}

COOKING = {
    "kitchen-basics.md": """# Kitchen basics

## How do I caramelize onions?

Slice the onions thinly and cook them slowly in butter over low heat for forty minutes, stirring
now and then, until they are deep golden brown and sweet.

## How do I cook rice without it getting sticky?

Rinse the rice until the water runs clear, use one and a half cups of water per cup of rice and let
it rest covered for ten minutes after cooking.

## How do I make fluffy pancakes?

Separate the eggs, whisk the whites to soft peaks and fold them into the batter at the end; do not
overmix, and let the batter rest for ten minutes.
""",
}
