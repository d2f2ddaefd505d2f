"""The runner's variables, declared once per concern; ``runtime.settings`` assembles them.

Each module holds one attrs class whose fields are the variables of one concern, each declared
with :func:`runtime.config.fields.setting` (environment name, parser, default, meaning).
"""
