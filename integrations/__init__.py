"""Platform integrations. Everything outside this package reaches a platform through
`integrations.base` (the `PlatformClient` Protocol and `get_client`), never a platform
module directly. Nothing is imported here, so importing a webhook adapter stays cheap."""
