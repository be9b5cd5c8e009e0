"""Commands added to `loyalty` (see `app.cli`): each module defines `command`."""
