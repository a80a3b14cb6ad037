"""Ansible-like playbooks: YAML plays of tasks, Jinja2 values, one module per task kind."""
