"""The shipped TOML configurations, installed as the package ``switchyard_configs``."""
