"""Workflow definitions shared by the engine tests."""

from __future__ import annotations

import copy
from typing import Any

FORMS, CRM, MARKETING, CHAT = 1, 2, 3, 4


def lead_workflow() -> dict[str, Any]:
    """Web-form lead -> contact -> follow-up task for its owner -> marketing list -> chat."""
    return copy.deepcopy(
        {
            "trigger": {"type": "webhook", "connection": FORMS, "object": "form_submissions"},
            "steps": [
                {
                    "type": "filter",
                    "condition": {
                        "all": [
                            {"field": "email", "op": "is_not_empty"},
                            {"field": "consent", "op": "equals", "value": True},
                        ]
                    },
                },
                {
                    "type": "action",
                    "id": "create_contact",
                    "connection": CRM,
                    "object": "contacts",
                    "operation": "upsert",
                    "match_field": "email",
                    "mapping": {
                        "fields": [
                            {
                                "target": "email",
                                "source": "email",
                                "transforms": [{"name": "trim"}, {"name": "lower"}],
                            },
                            {
                                "target": "firstname",
                                "source": "name",
                                "transforms": [{"name": "split_name", "args": {"part": "first"}}],
                            },
                            {
                                "target": "lastname",
                                "source": "name",
                                "transforms": [{"name": "split_name", "args": {"part": "last"}}],
                            },
                            {
                                "target": "phone",
                                "source": "phone",
                                "transforms": [{"name": "to_phone_e164", "args": {"default_region": "GB"}}],
                            },
                            {
                                "target": "city",
                                "source": "address",
                                "transforms": [{"name": "split_address", "args": {"part": "city"}}],
                            },
                            {
                                "target": "owner_id",
                                "source": "region",
                                "transforms": [
                                    {
                                        "name": "value_map",
                                        "args": {
                                            "map": {"north": "u-1", "south": "u-2"},
                                            "unmapped": "default",
                                            "default": "u-0",
                                            "case_insensitive": True,
                                        },
                                    }
                                ],
                            },
                        ]
                    },
                },
                {
                    "type": "action",
                    "id": "create_task",
                    "connection": CRM,
                    "object": "tasks",
                    "operation": "create",
                    "mapping": {
                        "fields": [
                            {"target": "contact_id", "source": "steps.create_contact.id"},
                            {"target": "owner_id", "source": "steps.create_contact.fields.owner_id"},
                            {
                                "target": "subject",
                                "source": [],
                                "transforms": [
                                    {"name": "format", "args": {"template": "Call {name} about {interest}"}}
                                ],
                            },
                            {
                                "target": "due",
                                "source": "submitted_at",
                                "transforms": [
                                    {"name": "to_date", "args": {"output_timezone": "Europe/London"}}
                                ],
                            },
                        ]
                    },
                },
                {
                    "type": "branch",
                    "id": "hot_or_not",
                    "if": {
                        "field": "interest",
                        "op": "in_list",
                        "value": ["demo", "pricing"],
                        "case_insensitive": True,
                    },
                    "then": [
                        {
                            "type": "action",
                            "id": "add_to_hot_list",
                            "connection": MARKETING,
                            "object": "list_members",
                            "operation": "upsert",
                            "match_field": "email",
                            "mapping": {
                                "fields": [
                                    {"target": "email", "source": "steps.create_contact.fields.email"},
                                    {
                                        "target": "list",
                                        "source": [],
                                        "transforms": [{"name": "default", "args": {"value": "Hot leads"}}],
                                    },
                                ]
                            },
                        }
                    ],
                    "else": [
                        {
                            "type": "action",
                            "id": "add_to_newsletter",
                            "connection": MARKETING,
                            "object": "list_members",
                            "operation": "upsert",
                            "match_field": "email",
                            "mapping": {
                                "fields": [
                                    {"target": "email", "source": "steps.create_contact.fields.email"},
                                    {
                                        "target": "list",
                                        "source": [],
                                        "transforms": [{"name": "default", "args": {"value": "Newsletter"}}],
                                    },
                                ]
                            },
                        }
                    ],
                },
                {
                    "type": "notify",
                    "id": "tell_sales",
                    "connection": CHAT,
                    "channel": "#sales",
                    "format": "New lead {name} <{steps.create_contact.fields.email}>: contact {steps.create_contact.id},"
                    " task {steps.create_task.id}, list {steps.add_to_hot_list.fields.list}{steps.add_to_newsletter.fields.list}",
                },
            ],
        }
    )


def lead(**changes: Any) -> dict[str, Any]:
    """A web-form submission."""
    return {
        "email": " Ada@Example.com ",
        "name": "Ada Lovelace",
        "phone": "020 7946 0958",
        "address": "221B Baker Street, London NW1 6XE, United Kingdom",
        "region": "North",
        "interest": "Demo",
        "consent": "yes",
        "submitted_at": "2024-03-01T23:30:00-05:00",
        **changes,
    }
